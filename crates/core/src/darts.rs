//! The DARTS CNN cell space and its genotypes.
//!
//! - [`DartsOp`]: the 8 candidate ops in the reference `PRIMITIVES` order.
//! - [`OpSet`]: the ordered subset of ops a search uses (the column order of α).
//! - [`Genotype`]: a discrete cell pair, printed and parsed in the reference's Python repr form
//!   (`Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5], ...)`) and as JSON.
//! - [`resolve`]: turn a command-line argument (name, genotype string or file) into a [`Genotype`].

mod genotype;
mod named;
mod parse;

pub use genotype::{CellKind, Genotype, GenotypeError};
pub use named::resolve;

use std::fmt;
use std::str::FromStr;

/// Kept in sync with [`DartsOp::ALL`] by a test; a literal so that error messages need no allocation.
const OP_LIST: &str =
    "none, max_pool_3x3, avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5";

/// Why an op name or an op set was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpaceError {
    #[error("unknown DARTS op '{op}'; expected one of {OP_LIST}")]
    UnknownOp { op: String },
    #[error(
        "empty op set; give a comma-separated list such as \
         'none,max_pool_3x3,skip_connect,sep_conv_3x3,dil_conv_3x3', or a preset name (darts, sgas_es)"
    )]
    EmptySet,
    #[error("empty entry at position {position} of the op list '{list}'; remove the doubled or trailing comma")]
    EmptyItem { position: usize, list: String },
    #[error("op '{op}' appears twice in the op set (columns {first} and {second}); list each op once")]
    Duplicate { op: DartsOp, first: usize, second: usize },
    #[error(
        "'none' is at column {column} of the op set; put it first: column 0 is the 'none' column by \
         convention (genotype derivation skips it, SGAS uses it as the pruned-edge marker)"
    )]
    NoneNotFirst { column: usize },
    #[error("the op set contains only 'none'; add at least one real op")]
    OnlyNone,
    #[error(
        "SGAS needs 'none' as column 0 of the op set (it marks pruned edges and is left out of the \
         edge scores), but the set is [{set}]; prepend 'none'"
    )]
    NoneRequired { set: String },
}

/// The eight DARTS candidate ops, in the reference `PRIMITIVES` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum DartsOp {
    #[serde(rename = "none")]
    None = 0,
    #[serde(rename = "max_pool_3x3")]
    MaxPool3x3 = 1,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3 = 2,
    #[serde(rename = "skip_connect")]
    SkipConnect = 3,
    #[serde(rename = "sep_conv_3x3")]
    SepConv3x3 = 4,
    #[serde(rename = "sep_conv_5x5")]
    SepConv5x5 = 5,
    #[serde(rename = "dil_conv_3x3")]
    DilConv3x3 = 6,
    #[serde(rename = "dil_conv_5x5")]
    DilConv5x5 = 7,
}

impl DartsOp {
    pub const ALL: [DartsOp; 8] = [
        DartsOp::None,
        DartsOp::MaxPool3x3,
        DartsOp::AvgPool3x3,
        DartsOp::SkipConnect,
        DartsOp::SepConv3x3,
        DartsOp::SepConv5x5,
        DartsOp::DilConv3x3,
        DartsOp::DilConv5x5,
    ];

    /// The name used in genotype strings and in the reference code.
    pub fn name(self) -> &'static str {
        match self {
            DartsOp::None => "none",
            DartsOp::MaxPool3x3 => "max_pool_3x3",
            DartsOp::AvgPool3x3 => "avg_pool_3x3",
            DartsOp::SkipConnect => "skip_connect",
            DartsOp::SepConv3x3 => "sep_conv_3x3",
            DartsOp::SepConv5x5 => "sep_conv_5x5",
            DartsOp::DilConv3x3 => "dil_conv_3x3",
            DartsOp::DilConv5x5 => "dil_conv_5x5",
        }
    }

    /// Position in the full `PRIMITIVES` list (not in a reduced [`OpSet`]; use [`OpSet::index_of`]).
    pub fn primitive_index(self) -> usize {
        self as usize
    }
}

impl FromStr for DartsOp {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DartsOp::ALL.into_iter().find(|op| op.name() == s).ok_or_else(|| SpaceError::UnknownOp { op: s.to_string() })
    }
}

impl fmt::Display for DartsOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ordered ops of a search space: column `k` of α weights `ops()[k]`.
///
/// Invariants (checked by [`OpSet::new`]): at least one op other than `none`, no duplicates, and `none`,
/// if present, at column 0. DARTS itself works with or without `none` (its genotype derivation only
/// skips the `none` column). SGAS does not: it reads column 0 as `none`, drops it from its scores and
/// writes 0 into decided edges to mean "pruned"; SGAS code calls [`OpSet::require_none_first`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<DartsOp>", into = "Vec<DartsOp>")]
pub struct OpSet {
    ops: Vec<DartsOp>,
}

impl OpSet {
    /// Preset names accepted by [`OpSet::preset`] and by parsing.
    pub const PRESETS: [&'static str; 2] = ["darts", "sgas_es"];

    pub fn new(ops: Vec<DartsOp>) -> Result<Self, SpaceError> {
        if ops.is_empty() {
            return Err(SpaceError::EmptySet);
        }
        for (second, op) in ops.iter().enumerate() {
            if let Some(first) = ops[..second].iter().position(|o| o == op) {
                return Err(SpaceError::Duplicate { op: *op, first, second });
            }
        }
        if let Some(column) = ops.iter().position(|&o| o == DartsOp::None) {
            if column != 0 {
                return Err(SpaceError::NoneNotFirst { column });
            }
        }
        if ops.iter().all(|&o| o == DartsOp::None) {
            return Err(SpaceError::OnlyNone);
        }
        Ok(OpSet { ops })
    }

    /// All 8 DARTS ops (the DARTS and SGAS CIFAR-10 space).
    pub fn darts() -> Self {
        OpSet { ops: DartsOp::ALL.to_vec() }
    }

    /// The reduced 5-op space SGAS-es searched on Fashion-MNIST.
    pub fn sgas_es() -> Self {
        use DartsOp::*;
        OpSet { ops: vec![None, MaxPool3x3, SkipConnect, SepConv3x3, DilConv3x3] }
    }

    /// A preset by name (case-insensitive, `-` and `_` interchangeable): `darts` or `sgas_es`.
    pub fn preset(name: &str) -> Option<Self> {
        let key = name.trim().to_ascii_lowercase().replace('-', "_");
        match key.as_str() {
            "darts" => Some(Self::darts()),
            "sgas_es" => Some(Self::sgas_es()),
            _ => None,
        }
    }

    pub fn ops(&self) -> &[DartsOp] {
        &self.ops
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Always false (a valid set has at least one op); present for the usual `len` pairing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The α column of `op`, if the set has it.
    pub fn index_of(&self, op: DartsOp) -> Option<usize> {
        self.ops.iter().position(|&o| o == op)
    }

    pub fn get(&self, column: usize) -> Option<DartsOp> {
        self.ops.get(column).copied()
    }

    pub fn contains(&self, op: DartsOp) -> bool {
        self.ops.contains(&op)
    }

    pub fn has_none(&self) -> bool {
        self.ops.first() == Some(&DartsOp::None)
    }

    /// What SGAS needs on top of the general invariants: `none` present (and so, at column 0).
    pub fn require_none_first(&self) -> Result<(), SpaceError> {
        if self.has_none() {
            Ok(())
        } else {
            Err(SpaceError::NoneRequired { set: self.to_string() })
        }
    }
}

impl TryFrom<Vec<DartsOp>> for OpSet {
    type Error = SpaceError;

    fn try_from(ops: Vec<DartsOp>) -> Result<Self, Self::Error> {
        OpSet::new(ops)
    }
}

impl From<OpSet> for Vec<DartsOp> {
    fn from(set: OpSet) -> Self {
        set.ops
    }
}

/// Comma-separated op names (whitespace around names ignored), or a preset name.
impl FromStr for OpSet {
    type Err = SpaceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(set) = OpSet::preset(s) {
            return Ok(set);
        }
        if s.trim().is_empty() {
            return Err(SpaceError::EmptySet);
        }
        let ops = s
            .split(',')
            .enumerate()
            .map(|(position, item)| {
                let item = item.trim();
                if item.is_empty() {
                    Err(SpaceError::EmptyItem { position, list: s.to_string() })
                } else {
                    item.parse::<DartsOp>()
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        OpSet::new(ops)
    }
}

/// Comma-separated names without spaces, so the output parses back and pastes into a command line.
impl fmt::Display for OpSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, op) in self.ops.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(op.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_in_reference_order() {
        let names: Vec<&str> = DartsOp::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(
            names,
            [
                "none",
                "max_pool_3x3",
                "avg_pool_3x3",
                "skip_connect",
                "sep_conv_3x3",
                "sep_conv_5x5",
                "dil_conv_3x3",
                "dil_conv_5x5"
            ]
        );
        assert_eq!(names.join(", "), OP_LIST);
        for (i, op) in DartsOp::ALL.into_iter().enumerate() {
            assert_eq!(op.primitive_index(), i);
            assert_eq!(op.to_string().parse::<DartsOp>(), Ok(op));
            assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{}\"", op.name()));
        }
    }

    #[test]
    fn unknown_op_message() {
        assert_eq!(
            "conv_3x3".parse::<DartsOp>().unwrap_err().to_string(),
            "unknown DARTS op 'conv_3x3'; expected one of none, max_pool_3x3, avg_pool_3x3, skip_connect, \
             sep_conv_3x3, sep_conv_5x5, dil_conv_3x3, dil_conv_5x5"
        );
    }

    #[test]
    fn presets() {
        assert_eq!(OpSet::darts().ops(), &DartsOp::ALL);
        let es = OpSet::sgas_es();
        assert_eq!(es.to_string(), "none,max_pool_3x3,skip_connect,sep_conv_3x3,dil_conv_3x3");
        assert_eq!(es.index_of(DartsOp::SepConv3x3), Some(3));
        assert_eq!(es.index_of(DartsOp::AvgPool3x3), None);
        assert_eq!(es.get(4), Some(DartsOp::DilConv3x3));
        assert_eq!(es.get(5), None);
        assert_eq!("SGAS-es".parse::<OpSet>(), Ok(es.clone()));
        assert_eq!(" darts ".parse::<OpSet>(), Ok(OpSet::darts()));
        for name in OpSet::PRESETS {
            assert!(OpSet::preset(name).is_some(), "{name}");
        }
        assert!(es.require_none_first().is_ok());
    }

    #[test]
    fn parse_and_print_round_trip() {
        let set: OpSet = " none, skip_connect ,sep_conv_3x3".parse().unwrap();
        assert_eq!(set.ops(), &[DartsOp::None, DartsOp::SkipConnect, DartsOp::SepConv3x3]);
        assert_eq!(set.to_string().parse::<OpSet>(), Ok(set.clone()));
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["none","skip_connect","sep_conv_3x3"]"#);
        assert_eq!(serde_json::from_str::<OpSet>(&json).unwrap(), set);
    }

    #[test]
    fn op_set_errors() {
        use DartsOp::*;
        assert_eq!("".parse::<OpSet>(), Err(SpaceError::EmptySet));
        assert_eq!(
            "none,,skip_connect".parse::<OpSet>(),
            Err(SpaceError::EmptyItem { position: 1, list: "none,,skip_connect".into() })
        );
        assert_eq!("none,sep_conv_7x7".parse::<OpSet>(), Err(SpaceError::UnknownOp { op: "sep_conv_7x7".into() }));
        assert_eq!(
            "none,skip_connect,sep_conv_3x3,skip_connect".parse::<OpSet>(),
            Err(SpaceError::Duplicate { op: SkipConnect, first: 1, second: 3 })
        );
        assert_eq!("skip_connect,none".parse::<OpSet>(), Err(SpaceError::NoneNotFirst { column: 1 }));
        assert_eq!("none".parse::<OpSet>(), Err(SpaceError::OnlyNone));
        let err = serde_json::from_str::<OpSet>(r#"["skip_connect","none"]"#).unwrap_err().to_string();
        assert!(err.contains("put it first"), "{err}");
    }

    #[test]
    fn sets_without_none_are_fine_for_darts_but_not_sgas() {
        let set: OpSet = "skip_connect,sep_conv_3x3".parse().unwrap();
        assert!(!set.has_none());
        assert_eq!(set.index_of(DartsOp::SepConv3x3), Some(1));
        let err = set.require_none_first().unwrap_err();
        assert_eq!(err, SpaceError::NoneRequired { set: "skip_connect,sep_conv_3x3".into() });
        assert!(err.to_string().contains("prepend 'none'"));
    }
}
