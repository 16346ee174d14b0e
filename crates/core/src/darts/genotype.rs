//! `Genotype`: the discrete normal + reduction cells a DARTS-family search derives.

use std::fmt;
use std::str::FromStr;

use super::{DartsOp, OpSet};

/// Which of the two cells of a genotype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellKind {
    Normal,
    Reduce,
}

impl CellKind {
    pub const BOTH: [CellKind; 2] = [CellKind::Normal, CellKind::Reduce];

    /// The field name in the reference namedtuple.
    pub fn name(self) -> &'static str {
        match self {
            CellKind::Normal => "normal",
            CellKind::Reduce => "reduce",
        }
    }
}

impl fmt::Display for CellKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ops a genotype may contain: every DARTS op except `none`.
const GENOTYPE_OPS: &str =
    "max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5";

const FORM: &str =
    "Genotype(normal=[('op', input), ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[...])";

/// Why a genotype (string, JSON, name or file) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenotypeError {
    #[error("genotype string, line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },
    #[error("genotype JSON: {message}")]
    Json { message: String },
    #[error("unknown op '{op}' at {cell}[{pos}]; expected one of {GENOTYPE_OPS}")]
    UnknownOp { cell: CellKind, pos: usize, op: String },
    #[error(
        "'none' at {cell}[{pos}]: a genotype never contains 'none' (it only marks pruned edges during \
         search); choose a real op for that edge"
    )]
    NoneOp { cell: CellKind, pos: usize },
    #[error("{cell} is empty; a cell needs at least one node, i.e. 2 (op, input) pairs")]
    EmptyCell { cell: CellKind },
    #[error("{cell} has {len} (op, input) pairs, an odd number; every node takes exactly 2")]
    OddPairs { cell: CellKind, len: usize },
    #[error(
        "input {input} at {cell}[{pos}] is out of range for node {node} (allowed 0..={}: the two cell \
         inputs and the nodes before it)",
        node + 1
    )]
    InputOutOfRange { cell: CellKind, pos: usize, input: usize, node: usize },
    #[error(
        "normal has {normal} nodes but reduce has {reduce}; both cells must have the same number of \
         steps (pairs / 2)"
    )]
    StepMismatch { normal: usize, reduce: usize },
    #[error("{cell}_concat is empty; list the node outputs to concatenate, e.g. [2, 3, 4, 5]")]
    ConcatEmpty { cell: CellKind },
    #[error(
        "{cell}_concat contains {value}, outside 2..={} (the intermediate nodes of a {steps}-step cell)",
        steps + 1
    )]
    ConcatOutOfRange { cell: CellKind, value: usize, steps: usize },
    #[error("{cell}_concat lists {value} twice; list each node at most once")]
    ConcatDuplicate { cell: CellKind, value: usize },
    #[error("{cell}[{pos}] uses '{op}', which is not in the search space's op set [{set}]")]
    OpNotInSpace { cell: CellKind, pos: usize, op: DartsOp, set: String },
    #[error("unknown genotype name '{name}'; known names: {known}")]
    UnknownName { name: String, known: String },
    #[error("could not read genotype file '{path}': {message}")]
    ReadFile { path: String, message: String },
    #[error("read '{path}' as a genotype file (it is not a known genotype name): {source}")]
    InFile { path: String, source: Box<GenotypeError> },
    #[error("the argument is neither a known genotype name nor an existing file; as a genotype string: {source}")]
    InString { source: Box<GenotypeError> },
    #[error(
        "'{spec}' is not a known genotype name ({known}), not an existing file, and not a genotype \
         string (expected '{FORM}' or its JSON form)"
    )]
    Unresolved { spec: String, known: String },
}

/// A DARTS genotype: for each cell, 2 `(op, input)` pairs per intermediate node in node order, and the
/// node outputs concatenated into the cell output.
///
/// Input `j` of node `i` (0-based) is one of the two cell inputs (0, 1) or an earlier node (`j - 2`),
/// so `j < i + 2`; concat entries name nodes by the same numbering (2 = first intermediate node).
/// Fields are public for reading and building; [`Genotype::new`] and every parser validate, and
/// [`Genotype::validate`] re-checks a hand-built value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Genotype {
    pub normal: Vec<(DartsOp, usize)>,
    pub normal_concat: Vec<usize>,
    pub reduce: Vec<(DartsOp, usize)>,
    pub reduce_concat: Vec<usize>,
}

/// A genotype with op names not yet checked, as read from a string or JSON; converting it with
/// [`Genotype::from_raw`] gives one error type and location scheme for every input format.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGenotype {
    pub normal: Vec<(String, usize)>,
    pub normal_concat: Vec<usize>,
    pub reduce: Vec<(String, usize)>,
    pub reduce_concat: Vec<usize>,
}

impl Genotype {
    /// Builds and validates.
    pub fn new(
        normal: Vec<(DartsOp, usize)>,
        normal_concat: Vec<usize>,
        reduce: Vec<(DartsOp, usize)>,
        reduce_concat: Vec<usize>,
    ) -> Result<Self, GenotypeError> {
        let g = Genotype { normal, normal_concat, reduce, reduce_concat };
        g.validate()?;
        Ok(g)
    }

    pub(super) fn from_raw(raw: RawGenotype) -> Result<Self, GenotypeError> {
        let ops = |cell: CellKind, pairs: Vec<(String, usize)>| {
            pairs
                .into_iter()
                .enumerate()
                .map(|(pos, (name, input))| match name.parse::<DartsOp>() {
                    Ok(op) => Ok((op, input)),
                    Err(_) => Err(GenotypeError::UnknownOp { cell, pos, op: name }),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let normal = ops(CellKind::Normal, raw.normal)?;
        let reduce = ops(CellKind::Reduce, raw.reduce)?;
        Genotype::new(normal, raw.normal_concat, reduce, raw.reduce_concat)
    }

    /// Number of intermediate nodes per cell (4 in DARTS).
    pub fn steps(&self) -> usize {
        self.normal.len() / 2
    }

    /// The pairs and concat list of one cell.
    pub fn cell(&self, kind: CellKind) -> (&[(DartsOp, usize)], &[usize]) {
        match kind {
            CellKind::Normal => (&self.normal, &self.normal_concat),
            CellKind::Reduce => (&self.reduce, &self.reduce_concat),
        }
    }

    /// Checks the structural rules (see the type docs); the first violation is reported.
    pub fn validate(&self) -> Result<(), GenotypeError> {
        for cell in CellKind::BOTH {
            let (pairs, _) = self.cell(cell);
            if pairs.is_empty() {
                return Err(GenotypeError::EmptyCell { cell });
            }
            if pairs.len() % 2 != 0 {
                return Err(GenotypeError::OddPairs { cell, len: pairs.len() });
            }
            for (pos, &(op, input)) in pairs.iter().enumerate() {
                if op == DartsOp::None {
                    return Err(GenotypeError::NoneOp { cell, pos });
                }
                let node = pos / 2;
                if input >= node + 2 {
                    return Err(GenotypeError::InputOutOfRange { cell, pos, input, node });
                }
            }
        }
        if self.normal.len() != self.reduce.len() {
            return Err(GenotypeError::StepMismatch { normal: self.normal.len() / 2, reduce: self.reduce.len() / 2 });
        }
        let steps = self.steps();
        for cell in CellKind::BOTH {
            let (_, concat) = self.cell(cell);
            if concat.is_empty() {
                return Err(GenotypeError::ConcatEmpty { cell });
            }
            for (k, &value) in concat.iter().enumerate() {
                if !(2..steps + 2).contains(&value) {
                    return Err(GenotypeError::ConcatOutOfRange { cell, value, steps });
                }
                if concat[..k].contains(&value) {
                    return Err(GenotypeError::ConcatDuplicate { cell, value });
                }
            }
        }
        Ok(())
    }

    /// Fails on the first op the genotype uses that `set` lacks (e.g. a DARTS genotype evaluated in
    /// the reduced SGAS-es space).
    pub fn check_ops(&self, set: &OpSet) -> Result<(), GenotypeError> {
        for cell in CellKind::BOTH {
            for (pos, &(op, _)) in self.cell(cell).0.iter().enumerate() {
                if !set.contains(op) {
                    return Err(GenotypeError::OpNotInSpace { cell, pos, op, set: set.to_string() });
                }
            }
        }
        Ok(())
    }

    /// `{"normal": [["sep_conv_3x3", 0], ...], "normal_concat": [2, 3, 4, 5], "reduce": ..., "reduce_concat": ...}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a genotype of op names and integers always serialises")
    }

    pub fn from_json(text: &str) -> Result<Self, GenotypeError> {
        let raw: RawGenotype =
            serde_json::from_str(text).map_err(|e| GenotypeError::Json { message: e.to_string() })?;
        Genotype::from_raw(raw)
    }
}

impl<'de> serde::Deserialize<'de> for Genotype {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawGenotype::deserialize(deserializer)?;
        Genotype::from_raw(raw).map_err(serde::de::Error::custom)
    }
}

/// The reference namedtuple repr, concat always as a list: `Genotype(normal=[('sep_conv_3x3', 0), ...],
/// normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`.
impl fmt::Display for Genotype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn pairs(f: &mut fmt::Formatter<'_>, pairs: &[(DartsOp, usize)]) -> fmt::Result {
            f.write_str("[")?;
            for (i, (op, input)) in pairs.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "('{op}', {input})")?;
            }
            f.write_str("]")
        }
        fn ints(f: &mut fmt::Formatter<'_>, values: &[usize]) -> fmt::Result {
            f.write_str("[")?;
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{v}")?;
            }
            f.write_str("]")
        }
        f.write_str("Genotype(normal=")?;
        pairs(f, &self.normal)?;
        f.write_str(", normal_concat=")?;
        ints(f, &self.normal_concat)?;
        f.write_str(", reduce=")?;
        pairs(f, &self.reduce)?;
        f.write_str(", reduce_concat=")?;
        ints(f, &self.reduce_concat)?;
        f.write_str(")")
    }
}

/// Parses the reference repr; see [`super::parse`] for what is accepted beyond the printed form.
impl FromStr for Genotype {
    type Err = GenotypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Genotype::from_raw(super::parse::parse(s)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DartsOp::*;

    fn four_step() -> Genotype {
        Genotype {
            normal: vec![
                (SepConv3x3, 0),
                (SepConv3x3, 1),
                (SkipConnect, 0),
                (DilConv3x3, 2),
                (SepConv5x5, 1),
                (MaxPool3x3, 3),
                (AvgPool3x3, 0),
                (DilConv5x5, 4),
            ],
            normal_concat: vec![2, 3, 4, 5],
            reduce: vec![
                (MaxPool3x3, 0),
                (MaxPool3x3, 1),
                (SkipConnect, 2),
                (MaxPool3x3, 1),
                (MaxPool3x3, 0),
                (SkipConnect, 2),
                (SkipConnect, 2),
                (MaxPool3x3, 1),
            ],
            reduce_concat: vec![2, 3, 4, 5],
        }
    }

    #[test]
    fn valid_genotype_passes_and_reports_steps() {
        let g = four_step();
        assert_eq!(g.validate(), Ok(()));
        assert_eq!(g.steps(), 4);
        assert_eq!(g.cell(CellKind::Reduce).1, &[2, 3, 4, 5]);
    }

    #[test]
    fn validation_errors() {
        let mut g = four_step();
        g.normal.pop();
        assert_eq!(g.validate(), Err(GenotypeError::OddPairs { cell: CellKind::Normal, len: 7 }));

        let mut g = four_step();
        g.normal[3] = (SepConv3x3, 5);
        let err = g.validate().unwrap_err();
        assert_eq!(err, GenotypeError::InputOutOfRange { cell: CellKind::Normal, pos: 3, input: 5, node: 1 });
        assert_eq!(
            err.to_string(),
            "input 5 at normal[3] is out of range for node 1 (allowed 0..=2: the two cell inputs and the nodes before it)"
        );

        let mut g = four_step();
        g.reduce[6] = (None, 0);
        assert_eq!(g.validate(), Err(GenotypeError::NoneOp { cell: CellKind::Reduce, pos: 6 }));

        let mut g = four_step();
        g.reduce.truncate(6);
        assert_eq!(g.validate(), Err(GenotypeError::StepMismatch { normal: 4, reduce: 3 }));

        let mut g = four_step();
        g.reduce.clear();
        assert_eq!(g.validate(), Err(GenotypeError::EmptyCell { cell: CellKind::Reduce }));

        let mut g = four_step();
        g.normal_concat = vec![2, 3, 6];
        let err = g.validate().unwrap_err();
        assert_eq!(err, GenotypeError::ConcatOutOfRange { cell: CellKind::Normal, value: 6, steps: 4 });
        assert!(err.to_string().starts_with("normal_concat contains 6, outside 2..=5"), "{err}");

        let mut g = four_step();
        g.reduce_concat = vec![1, 2];
        assert_eq!(g.validate(), Err(GenotypeError::ConcatOutOfRange { cell: CellKind::Reduce, value: 1, steps: 4 }));

        let mut g = four_step();
        g.reduce_concat = vec![2, 4, 4];
        assert_eq!(g.validate(), Err(GenotypeError::ConcatDuplicate { cell: CellKind::Reduce, value: 4 }));

        let mut g = four_step();
        g.normal_concat.clear();
        assert_eq!(g.validate(), Err(GenotypeError::ConcatEmpty { cell: CellKind::Normal }));
    }

    #[test]
    fn other_step_counts_are_allowed() {
        let g = Genotype::new(
            vec![(SepConv3x3, 0), (SkipConnect, 1), (SepConv3x3, 2), (SkipConnect, 0)],
            vec![2, 3],
            vec![(MaxPool3x3, 0), (MaxPool3x3, 1), (SkipConnect, 2), (MaxPool3x3, 1)],
            vec![3],
        )
        .unwrap();
        assert_eq!(g.steps(), 2);
    }

    #[test]
    fn check_ops_against_a_space() {
        let g = four_step();
        assert_eq!(g.check_ops(&OpSet::darts()), Ok(()));
        let err = g.check_ops(&OpSet::sgas_es()).unwrap_err();
        assert_eq!(
            err,
            GenotypeError::OpNotInSpace {
                cell: CellKind::Normal,
                pos: 4,
                op: SepConv5x5,
                set: "none,max_pool_3x3,skip_connect,sep_conv_3x3,dil_conv_3x3".into()
            }
        );
        assert!(err.to_string().starts_with("normal[4] uses 'sep_conv_5x5', which is not in"), "{err}");
    }

    #[test]
    fn prints_python_repr() {
        let g = Genotype::new(
            vec![(SepConv3x3, 0), (SkipConnect, 1)],
            vec![2],
            vec![(MaxPool3x3, 0), (DilConv5x5, 1)],
            vec![2],
        )
        .unwrap();
        assert_eq!(
            g.to_string(),
            "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], \
             reduce=[('max_pool_3x3', 0), ('dil_conv_5x5', 1)], reduce_concat=[2])"
        );
    }

    #[test]
    fn json_form_and_round_trip() {
        let g = Genotype::new(
            vec![(SepConv3x3, 0), (SkipConnect, 1)],
            vec![2],
            vec![(MaxPool3x3, 0), (DilConv5x5, 1)],
            vec![2],
        )
        .unwrap();
        let json = g.to_json();
        assert_eq!(
            json,
            r#"{"normal":[["sep_conv_3x3",0],["skip_connect",1]],"normal_concat":[2],"reduce":[["max_pool_3x3",0],["dil_conv_5x5",1]],"reduce_concat":[2]}"#
        );
        assert_eq!(Genotype::from_json(&json), Ok(g.clone()));
        assert_eq!(serde_json::from_str::<Genotype>(&json).unwrap(), g);
        let pretty = serde_json::to_string_pretty(&four_step()).unwrap();
        assert_eq!(Genotype::from_json(&pretty), Ok(four_step()));
    }

    #[test]
    fn json_errors_are_located() {
        let bad_op = r#"{"normal":[["sep_conv_3x3",0],["conv",1]],"normal_concat":[2],"reduce":[["max_pool_3x3",0],["max_pool_3x3",1]],"reduce_concat":[2]}"#;
        assert_eq!(
            Genotype::from_json(bad_op),
            Err(GenotypeError::UnknownOp { cell: CellKind::Normal, pos: 1, op: "conv".into() })
        );
        let err = serde_json::from_str::<Genotype>(bad_op).unwrap_err().to_string();
        assert!(err.contains("unknown op 'conv' at normal[1]"), "{err}");
        let missing = r#"{"normal":[["sep_conv_3x3",0],["skip_connect",1]],"normal_concat":[2],"reduce":[]}"#;
        match Genotype::from_json(missing) {
            Err(GenotypeError::Json { message }) => {
                assert!(message.contains("reduce_concat"), "{message}")
            }
            other => panic!("expected a JSON error, got {other:?}"),
        }
    }
}
