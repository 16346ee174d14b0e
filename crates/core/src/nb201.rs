//! The NAS-Bench-201 cell space: 5 ops on the 6 edges of a 4-node DAG.
//!
//! Node 0 is the cell input; node i (1..=3) sums `op(node j)` over all j < i; node 3 is the output.

/// The five NAS-Bench-201 ops, in the benchmark's order (this order is also the column order of α).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Nb201Op {
    None = 0,
    SkipConnect = 1,
    NorConv1x1 = 2,
    NorConv3x3 = 3,
    AvgPool3x3 = 4,
}

impl Nb201Op {
    pub const ALL: [Nb201Op; 5] = [
        Nb201Op::None,
        Nb201Op::SkipConnect,
        Nb201Op::NorConv1x1,
        Nb201Op::NorConv3x3,
        Nb201Op::AvgPool3x3,
    ];

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
}

/// Edges as (to, from), in the reference's sorted-key order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2.
pub const EDGES: [(usize, usize); 6] = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)];

/// One NAS-Bench-201 cell: `ops[e]` sits on edge `EDGES[e]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Nb201Arch {
    pub ops: [Nb201Op; 6],
}
