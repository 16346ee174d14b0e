//! The NAS-Bench-201 cell space: 5 ops on the 6 edges of a 4-node DAG.
//!
//! Node 0 is the cell input; node i (1..=3) sums `op(node j)` over all j < i; node 3 is the output.
//!
//! - [`Nb201Arch`] parses and prints the benchmark's arch string `|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`
//!   and serialises as that string.
//! - [`Nb201Arch::from_index`] / [`Nb201Arch::to_index`] follow the benchmark's own index order
//!   (see [`index`] for how that order is produced).
//! - [`Nb201Arch::unique_str`] / [`Nb201Arch::canonical`] identify isomorphic cells the way NATS-Bench
//!   does (see [`iso`]).

pub mod index;
pub mod iso;
pub mod set;

use std::fmt;
use std::str::FromStr;

/// Number of cells in the space (5^6).
pub const NUM_ARCHS: usize = 15_625;
/// Number of isomorphism classes under the benchmark's `unique_str` (NB201 paper: 6,466 unique cells).
pub const NUM_UNIQUE: usize = 6_466;

/// Kept in sync with [`Nb201Op::ALL`] by a test; a literal so that error messages need no allocation.
const OP_LIST: &str = "none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3";

/// Why an op name, an arch string or an index was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    #[error("unknown NAS-Bench-201 op '{op}'; expected one of {OP_LIST}")]
    UnknownOp { op: String },
    #[error("unknown op '{op}' on edge {to}<-{from}; expected one of {OP_LIST}")]
    UnknownEdgeOp { op: String, to: usize, from: usize },
    #[error(
        "empty arch string; expected '|op~0|+|op~0|op~1|+|op~0|op~1|op~2|', \
         e.g. '|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|'"
    )]
    Empty,
    #[error(
        "arch string has {found} node segment(s) separated by '+'; a NAS-Bench-201 cell has exactly 3 \
         ('|op~0|+|op~0|op~1|+|op~0|op~1|op~2|')"
    )]
    NodeCount { found: usize },
    #[error("segment '{segment}' of node {node} must start and end with '|', e.g. '{}'", node_example(*node))]
    MissingBar { node: usize, segment: String },
    #[error(
        "node {node} lists {found} input(s); it must list exactly {node} (inputs 0..={} in ascending order), e.g. '{}'",
        node - 1,
        node_example(*node)
    )]
    InputCount { node: usize, found: usize },
    #[error("malformed edge '{token}' in node {node}; expected 'op~input', e.g. 'nor_conv_3x3~0'")]
    MalformedEdge { node: usize, token: String },
    #[error("edge '{token}' in node {node} has input '{input}', which is not a node number")]
    BadInput { node: usize, token: String, input: String },
    #[error("input {input} of node {node} is out of range; node {node} takes inputs 0..={}", node - 1)]
    InputOutOfRange { node: usize, input: usize },
    #[error(
        "node {node} lists input {found} at position {position}; inputs must appear once each in ascending \
         order 0..={}, so position {position} must be input {position}",
        node - 1
    )]
    InputOutOfOrder { node: usize, position: usize, found: usize },
    #[error("NAS-Bench-201 index {index} is out of range; valid indices are 0..={}", NUM_ARCHS - 1)]
    IndexOutOfRange { index: usize },
    #[error("NAS-Bench-201 index {text} is out of range; valid indices are 0..={}", NUM_ARCHS - 1)]
    IndexText { text: String },
    #[error("base-5 code {code} is out of range; valid codes are 0..={}", NUM_ARCHS - 1)]
    CodeOutOfRange { code: usize },
}

fn node_example(node: usize) -> &'static str {
    match node {
        1 => "|nor_conv_3x3~0|",
        2 => "|nor_conv_3x3~0|skip_connect~1|",
        _ => "|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    }
}

/// The five NAS-Bench-201 ops, in the benchmark's order (this order is also the column order of α).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Nb201Op {
    #[serde(rename = "none")]
    None = 0,
    #[serde(rename = "skip_connect")]
    SkipConnect = 1,
    #[serde(rename = "nor_conv_1x1")]
    NorConv1x1 = 2,
    #[serde(rename = "nor_conv_3x3")]
    NorConv3x3 = 3,
    #[serde(rename = "avg_pool_3x3")]
    AvgPool3x3 = 4,
}

impl Nb201Op {
    pub const ALL: [Nb201Op; 5] =
        [Nb201Op::None, Nb201Op::SkipConnect, Nb201Op::NorConv1x1, Nb201Op::NorConv3x3, Nb201Op::AvgPool3x3];

    /// The name used in arch strings and in the reference code.
    pub fn name(self) -> &'static str {
        match self {
            Nb201Op::None => "none",
            Nb201Op::SkipConnect => "skip_connect",
            Nb201Op::NorConv1x1 => "nor_conv_1x1",
            Nb201Op::NorConv3x3 => "nor_conv_3x3",
            Nb201Op::AvgPool3x3 => "avg_pool_3x3",
        }
    }

    /// Position in [`Nb201Op::ALL`], i.e. the α column and the base-5 digit.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Inverse of [`Nb201Op::index`]; `None` for 5 and above.
    pub fn from_index(i: usize) -> Option<Nb201Op> {
        Nb201Op::ALL.get(i).copied()
    }

    /// none, skip_connect and avg_pool_3x3 carry no weights (at equal channel counts, as inside a cell).
    pub fn is_param_free(self) -> bool {
        matches!(self, Nb201Op::None | Nb201Op::SkipConnect | Nb201Op::AvgPool3x3)
    }
}

impl FromStr for Nb201Op {
    type Err = ArchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Nb201Op::ALL.into_iter().find(|op| op.name() == s).ok_or_else(|| ArchError::UnknownOp { op: s.to_string() })
    }
}

impl fmt::Display for Nb201Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Edges as (to, from), in the reference's sorted-key order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// Position of edge `to<-from` in [`EDGES`]; `None` unless `1 <= to <= 3` and `from < to`.
pub fn edge_index(to: usize, from: usize) -> Option<usize> {
    if (1..=3).contains(&to) && from < to {
        Some(to * (to - 1) / 2 + from)
    } else {
        None
    }
}

/// One NAS-Bench-201 cell: `ops[e]` sits on edge `EDGES[e]`.
///
/// Serialises as its arch string (see [`fmt::Display`]), so JSON shows `"|nor_conv_3x3~0|+...|"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nb201Arch {
    pub ops: [Nb201Op; 6],
}

impl Nb201Arch {
    pub const fn new(ops: [Nb201Op; 6]) -> Self {
        Nb201Arch { ops }
    }

    /// The cell with `op` on every edge (e.g. the all-skip cell DARTS collapses to).
    pub const fn uniform(op: Nb201Op) -> Self {
        Nb201Arch { ops: [op; 6] }
    }

    /// The op on edge `to<-from`; `None` if that is not an edge of the cell.
    pub fn edge_op(&self, to: usize, from: usize) -> Option<Nb201Op> {
        edge_index(to, from).map(|e| self.ops[e])
    }

    /// Edges with their ops, in [`EDGES`] order.
    pub fn ops_iter(&self) -> impl Iterator<Item = ((usize, usize), Nb201Op)> + '_ {
        EDGES.iter().copied().zip(self.ops.iter().copied())
    }

    /// How many edges carry `op`.
    pub fn count(&self, op: Nb201Op) -> usize {
        self.ops.iter().filter(|&&o| o == op).count()
    }

    /// How many edges carry a weight-free op (none, skip_connect, avg_pool_3x3).
    pub fn num_param_free(&self) -> usize {
        self.ops.iter().filter(|o| o.is_param_free()).count()
    }

    /// The ops read as a base-5 number, edge 0 (1<-0) most significant; this is the order in which the
    /// benchmark generated its cells before shuffling them.
    pub fn code(&self) -> u16 {
        self.ops.iter().fold(0u16, |acc, op| acc * 5 + op.index() as u16)
    }

    /// Inverse of [`Nb201Arch::code`].
    pub fn enumerate_base5(code: usize) -> Result<Self, ArchError> {
        if code >= NUM_ARCHS {
            return Err(ArchError::CodeOutOfRange { code });
        }
        Ok(Self::from_code_unchecked(code))
    }

    fn from_code_unchecked(code: usize) -> Self {
        let mut ops = [Nb201Op::None; 6];
        let mut rest = code;
        for slot in ops.iter_mut().rev() {
            *slot = Nb201Op::ALL[rest % 5];
            rest /= 5;
        }
        Nb201Arch { ops }
    }

    /// The cell with NAS-Bench-201 / NATS-Bench-TSS index `index` (the API's `arch(index)`).
    pub fn from_index(index: usize) -> Result<Self, ArchError> {
        match index::code_of_index(index) {
            Some(code) => Ok(Self::from_code_unchecked(code as usize)),
            None => Err(ArchError::IndexOutOfRange { index }),
        }
    }

    /// This cell's NAS-Bench-201 index (the API's `query_index_by_arch`).
    pub fn to_index(&self) -> usize {
        index::index_of_code(self.code())
    }

    /// All 15,625 cells in benchmark index order.
    pub fn all() -> impl Iterator<Item = Nb201Arch> {
        (0..NUM_ARCHS).map(|i| {
            // Every i < NUM_ARCHS has a code; the fallback is unreachable but keeps this panic-free.
            Self::from_code_unchecked(index::code_of_index(i).unwrap_or(0) as usize)
        })
    }

    /// NATS-Bench's isomorphism string (`get_unique_str`), byte-for-byte; see [`iso`].
    pub fn unique_str(&self) -> String {
        iso::unique_str(self)
    }

    /// The representative of this cell's isomorphism class: the member with the smallest
    /// [`Nb201Arch::code`]. Two cells are isomorphic iff their canonical cells are equal.
    pub fn canonical(&self) -> Nb201Arch {
        iso::canonical(self)
    }

    /// Whether the benchmark counts the two cells as the same architecture.
    pub fn is_isomorphic(&self, other: &Nb201Arch) -> bool {
        self.unique_str() == other.unique_str()
    }
}

impl fmt::Display for Nb201Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for to in 1..=3 {
            if to > 1 {
                f.write_str("+")?;
            }
            f.write_str("|")?;
            for from in 0..to {
                let op = self.ops[to * (to - 1) / 2 + from];
                write!(f, "{op}~{from}|")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Nb201Arch {
    type Err = ArchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ArchError::Empty);
        }
        let segments: Vec<&str> = s.split('+').collect();
        if segments.len() != 3 {
            return Err(ArchError::NodeCount { found: segments.len() });
        }
        let mut ops = [Nb201Op::None; 6];
        for (k, segment) in segments.iter().enumerate() {
            let node = k + 1;
            let inner = segment
                .strip_prefix('|')
                .and_then(|rest| rest.strip_suffix('|'))
                .ok_or_else(|| ArchError::MissingBar { node, segment: segment.to_string() })?;
            let tokens: Vec<&str> = inner.split('|').collect();
            if tokens.len() != node {
                return Err(ArchError::InputCount { node, found: tokens.len() });
            }
            for (position, token) in tokens.iter().enumerate() {
                let (op_name, input_text) =
                    token.split_once('~').ok_or_else(|| ArchError::MalformedEdge { node, token: token.to_string() })?;
                let input: usize = input_text.parse().map_err(|_| ArchError::BadInput {
                    node,
                    token: token.to_string(),
                    input: input_text.to_string(),
                })?;
                if input >= node {
                    return Err(ArchError::InputOutOfRange { node, input });
                }
                if input != position {
                    return Err(ArchError::InputOutOfOrder { node, position, found: input });
                }
                let op = op_name.parse::<Nb201Op>().map_err(|_| ArchError::UnknownEdgeOp {
                    op: op_name.to_string(),
                    to: node,
                    from: input,
                })?;
                ops[node * (node - 1) / 2 + input] = op;
            }
        }
        Ok(Nb201Arch { ops })
    }
}

impl serde::Serialize for Nb201Arch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Nb201Arch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const BEST_C100: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

    fn arch(s: &str) -> Nb201Arch {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    /// Rows of the shared ground-truth CSV as (arch_str, unique_str); `None` when the file is absent.
    pub(super) fn csv_rows() -> Option<Vec<(String, String)>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nasbench201/nb201_accuracies.csv");
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("note: {path} not found; skipping the check against the NAS-Bench-201 table");
            return None;
        };
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().expect("CSV has a header").split(',').collect();
        assert_eq!(&header[..3], &["index", "arch_str", "unique_str"]);
        let rows: Vec<(String, String)> = lines
            .enumerate()
            .map(|(i, line)| {
                let cols: Vec<&str> = line.splitn(4, ',').collect();
                assert_eq!(cols[0].parse::<usize>().unwrap(), i, "rows are in index order");
                (cols[1].to_string(), cols[2].to_string())
            })
            .collect();
        assert_eq!(rows.len(), NUM_ARCHS);
        Some(rows)
    }

    #[test]
    fn op_names_parse_print_and_order() {
        let names: Vec<&str> = Nb201Op::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names, ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]);
        assert_eq!(names.join(", "), OP_LIST);
        for (i, op) in Nb201Op::ALL.into_iter().enumerate() {
            assert_eq!(op.index(), i);
            assert_eq!(Nb201Op::from_index(i), Some(op));
            assert_eq!(op.to_string().parse::<Nb201Op>(), Ok(op));
        }
        assert_eq!(Nb201Op::from_index(5), None);
        let free: Vec<Nb201Op> = Nb201Op::ALL.into_iter().filter(|op| op.is_param_free()).collect();
        assert_eq!(free, [Nb201Op::None, Nb201Op::SkipConnect, Nb201Op::AvgPool3x3]);
    }

    #[test]
    fn unknown_op_message_lists_the_ops() {
        let err = "conv_3x3".parse::<Nb201Op>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown NAS-Bench-201 op 'conv_3x3'; expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"
        );
    }

    #[test]
    fn edge_index_matches_edges_table() {
        for (e, &(to, from)) in EDGES.iter().enumerate() {
            assert_eq!(edge_index(to, from), Some(e));
        }
        assert_eq!(edge_index(0, 0), None);
        assert_eq!(edge_index(2, 2), None);
        assert_eq!(edge_index(4, 0), None);
    }

    #[test]
    fn arch_prints_the_reference_string() {
        use Nb201Op::*;
        let a = Nb201Arch::new([NorConv3x3, NorConv3x3, NorConv3x3, SkipConnect, NorConv3x3, NorConv3x3]);
        assert_eq!(a.to_string(), BEST_C100);
        assert_eq!(arch(BEST_C100), a);
        assert_eq!(arch(&format!("  \n{BEST_C100}\t ")), a);
    }

    #[test]
    fn helpers_report_edges_and_counts() {
        use Nb201Op::*;
        let a = arch("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|none~1|skip_connect~2|");
        assert_eq!(a.edge_op(1, 0), Some(AvgPool3x3));
        assert_eq!(a.edge_op(2, 1), Some(SkipConnect));
        assert_eq!(a.edge_op(3, 1), Some(None));
        assert_eq!(a.edge_op(3, 3), Option::None);
        assert_eq!(a.count(NorConv1x1), 2);
        assert_eq!(a.count(SkipConnect), 2);
        assert_eq!(a.count(NorConv3x3), 0);
        assert_eq!(a.num_param_free(), 4);
        let listed: Vec<((usize, usize), Nb201Op)> = a.ops_iter().collect();
        assert_eq!(listed[4], ((3, 1), None));
        assert_eq!(listed.len(), 6);
    }

    #[test]
    fn parse_errors_name_the_problem() {
        let cases: &[(&str, ArchError)] = &[
            ("   ", ArchError::Empty),
            ("|none~0|+|none~0|none~1|", ArchError::NodeCount { found: 2 }),
            ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", ArchError::NodeCount { found: 4 }),
            (
                "none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                ArchError::MissingBar { node: 1, segment: "none~0|".into() },
            ),
            (
                "|none~0|+|none~0|none~1|+|none~0|none~1|none~2",
                ArchError::MissingBar { node: 3, segment: "|none~0|none~1|none~2".into() },
            ),
            ("|none~0|+|none~0|+|none~0|none~1|none~2|", ArchError::InputCount { node: 2, found: 1 }),
            ("|none~0|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", ArchError::InputCount { node: 1, found: 2 }),
            ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", ArchError::InputOutOfRange { node: 2, input: 2 }),
            (
                "|none~0|+|none~0|none~1|+|none~0|none~2|none~1|",
                ArchError::InputOutOfOrder { node: 3, position: 1, found: 2 },
            ),
            (
                "|none~0|+|none~0|none~1|+|none~0|none~0|none~2|",
                ArchError::InputOutOfOrder { node: 3, position: 1, found: 0 },
            ),
            (
                "|none~0|+|none~0|conv_3x3~1|+|none~0|none~1|none~2|",
                ArchError::UnknownEdgeOp { op: "conv_3x3".into(), to: 2, from: 1 },
            ),
            (
                "|none|+|none~0|none~1|+|none~0|none~1|none~2|",
                ArchError::MalformedEdge { node: 1, token: "none".into() },
            ),
            (
                "|none~x|+|none~0|none~1|+|none~0|none~1|none~2|",
                ArchError::BadInput { node: 1, token: "none~x".into(), input: "x".into() },
            ),
            ("||+|none~0|none~1|+|none~0|none~1|none~2|", ArchError::MalformedEdge { node: 1, token: "".into() }),
        ];
        for (text, expected) in cases {
            assert_eq!(text.parse::<Nb201Arch>().as_ref(), Err(expected), "input {text:?}");
        }
        let msg = "|none~0|+|none~0|conv_3x3~1|+|none~0|none~1|none~2|".parse::<Nb201Arch>().unwrap_err().to_string();
        assert_eq!(
            msg,
            "unknown op 'conv_3x3' on edge 2<-1; expected one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3"
        );
        let msg = ArchError::InputOutOfRange { node: 2, input: 2 }.to_string();
        assert_eq!(msg, "input 2 of node 2 is out of range; node 2 takes inputs 0..=1");
    }

    #[test]
    fn base5_code_has_edge0_most_significant() {
        use Nb201Op::*;
        assert_eq!(Nb201Arch::uniform(None).code(), 0);
        assert_eq!(Nb201Arch::uniform(AvgPool3x3).code(), 15_624);
        let last_edge_skip = Nb201Arch::new([None, None, None, None, None, SkipConnect]);
        assert_eq!(last_edge_skip.code(), 1);
        let first_edge_skip = Nb201Arch::new([SkipConnect, None, None, None, None, None]);
        assert_eq!(first_edge_skip.code(), 3125);
        assert_eq!(Nb201Arch::enumerate_base5(3125), Ok(first_edge_skip));
        for code in 0..NUM_ARCHS {
            assert_eq!(Nb201Arch::enumerate_base5(code).unwrap().code() as usize, code);
        }
        assert_eq!(Nb201Arch::enumerate_base5(15_625), Err(ArchError::CodeOutOfRange { code: 15_625 }));
    }

    /// Indices quoted in the data README (the benchmark's optima and its degenerate cells).
    #[test]
    fn known_indices() {
        let known = [
            (0, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"),
            (857, "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
            (6111, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"),
            (9930, BEST_C100),
        ];
        for (i, s) in known {
            assert_eq!(Nb201Arch::from_index(i).unwrap().to_string(), s, "index {i}");
            assert_eq!(arch(s).to_index(), i);
        }
        assert_eq!(Nb201Arch::uniform(Nb201Op::SkipConnect).to_index(), 1835);
        assert_eq!(Nb201Arch::uniform(Nb201Op::None).to_index(), 1651);
        assert_eq!(Nb201Arch::from_index(15_625), Err(ArchError::IndexOutOfRange { index: 15_625 }));
    }

    #[test]
    fn index_order_is_a_bijection() {
        let mut seen = vec![false; NUM_ARCHS];
        for (i, a) in Nb201Arch::all().enumerate() {
            assert_eq!(a.to_index(), i);
            assert_eq!(Nb201Arch::from_index(i), Ok(a));
            assert!(!std::mem::replace(&mut seen[a.code() as usize], true), "code {} repeated", a.code());
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn serde_uses_the_arch_string() {
        let a = arch(BEST_C100);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, format!("\"{BEST_C100}\""));
        assert_eq!(serde_json::from_str::<Nb201Arch>(&json).unwrap(), a);
        let err = serde_json::from_str::<Nb201Arch>("\"|none~0|\"").unwrap_err().to_string();
        assert!(err.contains("exactly 3"), "{err}");
        assert_eq!(serde_json::to_string(&Nb201Op::NorConv1x1).unwrap(), "\"nor_conv_1x1\"");
        assert_eq!(serde_json::from_str::<Nb201Op>("\"avg_pool_3x3\"").unwrap(), Nb201Op::AvgPool3x3);
    }

    #[test]
    fn csv_strings_round_trip_and_follow_index_order() {
        let Some(rows) = csv_rows() else { return };
        for (i, (arch_str, _)) in rows.iter().enumerate() {
            let a = arch(arch_str);
            assert_eq!(&a.to_string(), arch_str);
            assert_eq!(a.to_index(), i, "{arch_str}");
            assert_eq!(Nb201Arch::from_index(i).unwrap(), a);
        }
    }

    #[test]
    fn csv_unique_str_matches_exactly() {
        let Some(rows) = csv_rows() else { return };
        for (arch_str, unique) in &rows {
            assert_eq!(&arch(arch_str).unique_str(), unique, "{arch_str}");
        }
    }

    /// The partition induced by `canonical()` must equal the table's, group for group: a bijection
    /// between canonical cells and the table's unique strings.
    #[test]
    fn csv_isomorphism_partition_is_identical() {
        let Some(rows) = csv_rows() else { return };
        let mut canon_to_unique: HashMap<Nb201Arch, &str> = HashMap::new();
        let mut unique_to_canon: HashMap<&str, Nb201Arch> = HashMap::new();
        for (arch_str, unique) in &rows {
            let c = arch(arch_str).canonical();
            assert_eq!(*canon_to_unique.entry(c).or_insert(unique), unique.as_str(), "{arch_str}");
            assert_eq!(*unique_to_canon.entry(unique).or_insert(c), c, "{arch_str}");
        }
        assert_eq!(canon_to_unique.len(), NUM_UNIQUE);
        assert_eq!(unique_to_canon.len(), NUM_UNIQUE);
    }
}
