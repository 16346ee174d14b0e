//! `RnnGenotype`: the discrete recurrent cell a DARTS search on Penn Treebank derives.

use std::fmt;
use std::str::FromStr;

use super::RnnOp;
use crate::pyrepr::{read_call, SyntaxError};

const FORM: &str = "Genotype(recurrent=[('op', predecessor), ...], concat=range(1, 9))";

/// Why a recurrent genotype (string, JSON, name or file) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RnnGenotypeError {
    #[error("recurrent genotype string, line {line}, column {column}: {message} (expected {FORM})")]
    Syntax { line: usize, column: usize, message: String },
    #[error("recurrent genotype JSON: {message} (expected {{\"recurrent\": [[\"op\", predecessor], ...], \"concat\": [...]}})")]
    Json { message: String },
    #[error(
        "this is a DARTS CNN genotype (normal and reduce cells), not a recurrent one; the darts-rnn space \
         takes {FORM}, and CNN genotypes belong to `--space darts`"
    )]
    CnnGenotype,
    #[error("recurrent[{pos}]: unknown op '{op}'; expected one of tanh, relu, sigmoid, identity")]
    UnknownOp { pos: usize, op: String },
    #[error(
        "recurrent[{pos}] is 'none': a genotype never contains 'none' (it is only a column of α during \
         search); choose tanh, relu, sigmoid or identity"
    )]
    NoneOp { pos: usize },
    #[error("recurrent is empty; a cell needs at least one intermediate node ('op', predecessor)")]
    Empty,
    #[error(
        "recurrent[{pos}] takes node {pred}, but node {node} can only take an earlier node (0..={pos}: the \
         initial state and the nodes before it)",
        node = pos + 1
    )]
    PredOutOfRange { pos: usize, pred: usize },
    #[error("concat is empty; list the nodes whose mean is the cell output, e.g. range(1, 9)")]
    ConcatEmpty,
    #[error("concat contains {value}, outside 0..={steps} (the nodes of a {steps}-step cell)")]
    ConcatOutOfRange { value: usize, steps: usize },
    #[error("concat lists {value} twice; list each node at most once")]
    ConcatDuplicate { value: usize },
    #[error(
        "'{name}' is not a known recurrent genotype name ({known}), not an existing file, and not a \
         genotype string ({FORM})"
    )]
    UnknownName { name: String, known: String },
    #[error("could not read recurrent genotype file '{path}': {message}")]
    ReadFile { path: String, message: String },
    #[error("read '{path}' as a recurrent genotype file (it is not a known genotype name): {source}")]
    InFile { path: String, source: Box<RnnGenotypeError> },
}

impl From<SyntaxError> for RnnGenotypeError {
    fn from(e: SyntaxError) -> Self {
        RnnGenotypeError::Syntax { line: e.line, column: e.column, message: e.message }
    }
}

/// A DARTS recurrent cell: for intermediate node `i + 1` (1-based, node 0 being the initial state),
/// `recurrent[i] = (op, j)` applies `op` on top of node `j <= i`; the cell output is the mean of the
/// `concat` nodes. Fields are public for reading; [`RnnGenotype::new`] and every parser validate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct RnnGenotype {
    pub recurrent: Vec<(RnnOp, usize)>,
    pub concat: Vec<usize>,
}

/// Op names not yet checked, so that strings and JSON share one set of errors.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRnnGenotype {
    recurrent: Vec<(String, usize)>,
    concat: Vec<usize>,
}

impl RnnGenotype {
    pub fn new(recurrent: Vec<(RnnOp, usize)>, concat: Vec<usize>) -> Result<Self, RnnGenotypeError> {
        let g = RnnGenotype { recurrent, concat };
        g.validate()?;
        Ok(g)
    }

    /// Number of intermediate nodes.
    pub fn steps(&self) -> usize {
        self.recurrent.len()
    }

    pub fn validate(&self) -> Result<(), RnnGenotypeError> {
        if self.recurrent.is_empty() {
            return Err(RnnGenotypeError::Empty);
        }
        for (pos, &(op, pred)) in self.recurrent.iter().enumerate() {
            if op == RnnOp::None {
                return Err(RnnGenotypeError::NoneOp { pos });
            }
            if pred > pos {
                return Err(RnnGenotypeError::PredOutOfRange { pos, pred });
            }
        }
        self.validate_concat()
    }

    fn validate_concat(&self) -> Result<(), RnnGenotypeError> {
        if self.concat.is_empty() {
            return Err(RnnGenotypeError::ConcatEmpty);
        }
        for (i, &value) in self.concat.iter().enumerate() {
            if value > self.steps() {
                return Err(RnnGenotypeError::ConcatOutOfRange { value, steps: self.steps() });
            }
            if self.concat[..i].contains(&value) {
                return Err(RnnGenotypeError::ConcatDuplicate { value });
            }
        }
        Ok(())
    }

    fn from_raw(raw: RawRnnGenotype) -> Result<Self, RnnGenotypeError> {
        let recurrent = raw
            .recurrent
            .into_iter()
            .enumerate()
            .map(|(pos, (name, pred))| match name.parse::<RnnOp>() {
                Ok(op) => Ok((op, pred)),
                Err(_) => Err(RnnGenotypeError::UnknownOp { pos, op: name }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        RnnGenotype::new(recurrent, raw.concat)
    }

    fn parse_repr(text: &str) -> Result<Self, RnnGenotypeError> {
        let read = || -> Result<RawRnnGenotype, SyntaxError> {
            let (reader, values) = read_call(text, "Genotype", &["recurrent", "concat"])?;
            let [recurrent, concat] = <[_; 2]>::try_from(values).unwrap_or_else(|_| unreachable!("two fields"));
            Ok(RawRnnGenotype {
                recurrent: reader.pairs("recurrent", recurrent)?,
                concat: reader.concat("concat", concat)?,
            })
        };
        match read() {
            Ok(raw) => RnnGenotype::from_raw(raw),
            Err(_) if text.parse::<crate::darts::Genotype>().is_ok() => Err(RnnGenotypeError::CnnGenotype),
            Err(e) => Err(e.into()),
        }
    }

    fn parse_json(text: &str) -> Result<Self, RnnGenotypeError> {
        match serde_json::from_str::<RawRnnGenotype>(text) {
            Ok(raw) => RnnGenotype::from_raw(raw),
            Err(_) if crate::darts::Genotype::from_json(text).is_ok() => Err(RnnGenotypeError::CnnGenotype),
            Err(e) => Err(RnnGenotypeError::Json { message: e.to_string() }),
        }
    }

    /// The contiguous range `a..b` that `concat` is, if it is one (printed as `range(a, b)`).
    fn concat_range(&self) -> Option<(usize, usize)> {
        let first = *self.concat.first()?;
        let contiguous = self.concat.iter().enumerate().all(|(i, &v)| v == first + i);
        contiguous.then(|| (first, first + self.concat.len()))
    }
}

/// Python's repr of the reference namedtuple: `concat` prints as `range(a, b)` when it is one (as the
/// reference's `range(1, 9)` does), otherwise as a list.
impl fmt::Display for RnnGenotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(recurrent=[")?;
        for (i, (op, pred)) in self.recurrent.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "('{op}', {pred})")?;
        }
        f.write_str("], concat=")?;
        match self.concat_range() {
            Some((a, b)) => write!(f, "range({a}, {b}))"),
            None => {
                let items: Vec<String> = self.concat.iter().map(|v| v.to_string()).collect();
                write!(f, "[{}])", items.join(", "))
            }
        }
    }
}

/// The Python repr form, or JSON (`{"recurrent": [["relu", 0], ...], "concat": [1, ...]}`).
impl FromStr for RnnGenotype {
    type Err = RnnGenotypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim_start().starts_with('{') {
            RnnGenotype::parse_json(s)
        } else {
            RnnGenotype::parse_repr(s)
        }
    }
}

impl<'de> serde::Deserialize<'de> for RnnGenotype {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawRnnGenotype::deserialize(deserializer)?;
        RnnGenotype::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RnnOp::*;

    const V2: &str = "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), \
                      ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))";

    fn v2() -> RnnGenotype {
        RnnGenotype::new(
            vec![(Sigmoid, 0), (Relu, 1), (Relu, 1), (Identity, 1), (Tanh, 2), (Sigmoid, 5), (Tanh, 3), (Relu, 5)],
            (1..9).collect(),
        )
        .unwrap()
    }

    #[test]
    fn prints_and_parses_the_reference_repr() {
        assert_eq!(v2().to_string(), V2);
        assert_eq!(V2.parse::<RnnGenotype>(), Ok(v2()));
        // genotypes.py style: a name, newlines, a list concat, double quotes, positional arguments.
        let hand = "DARTS_V2 = Genotype(\n  [(\"sigmoid\", 0), ('relu', 1), ('relu', 1), ('identity', 1),\n   \
                    ('tanh', 2), ('sigmoid', 5), ('tanh', 3), ('relu', 5)],  # the cell\n  concat=[1, 2, 3, 4, 5, 6, 7, 8],\n)";
        assert_eq!(hand.parse::<RnnGenotype>(), Ok(v2()));
    }

    #[test]
    fn non_contiguous_concat_prints_as_a_list_and_json_round_trips() {
        let g = RnnGenotype::new(vec![(Tanh, 0), (Relu, 1), (Relu, 0)], vec![1, 3]).unwrap();
        assert_eq!(g.to_string(), "Genotype(recurrent=[('tanh', 0), ('relu', 1), ('relu', 0)], concat=[1, 3])");
        assert_eq!(g.to_string().parse::<RnnGenotype>(), Ok(g.clone()));
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(json, r#"{"recurrent":[["tanh",0],["relu",1],["relu",0]],"concat":[1,3]}"#);
        assert_eq!(json.parse::<RnnGenotype>(), Ok(g.clone()));
        assert_eq!(serde_json::from_str::<RnnGenotype>(&json).unwrap(), g);
    }

    #[test]
    fn invalid_cells_name_the_problem() {
        let with = |from: &str, to: &str| V2.replace(from, to).parse::<RnnGenotype>().unwrap_err();
        assert_eq!(
            with("('relu', 1), ('relu', 1)", "('relu', 1), ('elu', 1)"),
            RnnGenotypeError::UnknownOp { pos: 2, op: "elu".into() }
        );
        assert_eq!(with("('sigmoid', 0)", "('none', 0)"), RnnGenotypeError::NoneOp { pos: 0 });
        let e = with("('sigmoid', 0)", "('sigmoid', 1)");
        assert_eq!(e, RnnGenotypeError::PredOutOfRange { pos: 0, pred: 1 });
        assert!(e.to_string().contains("node 1 can only take an earlier node (0..=0"), "{e}");
        assert_eq!(with("range(1, 9)", "range(1, 10)"), RnnGenotypeError::ConcatOutOfRange { value: 9, steps: 8 });
        assert_eq!(with("range(1, 9)", "[1, 1]"), RnnGenotypeError::ConcatDuplicate { value: 1 });
        assert_eq!(with("range(1, 9)", "[]"), RnnGenotypeError::ConcatEmpty);
        assert_eq!("Genotype(recurrent=[], concat=[0])".parse::<RnnGenotype>(), Err(RnnGenotypeError::Empty));
        let e = with("concat=range(1, 9)", "cat=range(1, 9)").to_string();
        assert!(e.contains("unknown field 'cat'; Genotype has recurrent, concat") && e.contains("line 1"), "{e}");
        let e = r#"{"recurrent": [["relu", 0]]}"#.parse::<RnnGenotype>().unwrap_err().to_string();
        assert!(e.starts_with("recurrent genotype JSON: missing field `concat`"), "{e}");
    }

    #[test]
    fn a_cnn_genotype_is_recognised_and_refused() {
        let cnn = crate::darts::resolve("DARTS_V2").unwrap();
        assert_eq!(cnn.to_string().parse::<RnnGenotype>(), Err(RnnGenotypeError::CnnGenotype));
        let json = serde_json::to_string(&cnn).unwrap();
        let e = json.parse::<RnnGenotype>().unwrap_err();
        assert_eq!(e, RnnGenotypeError::CnnGenotype);
        assert!(e.to_string().contains("`--space darts`"), "{e}");
    }
}
