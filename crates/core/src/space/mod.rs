//! Search spaces as pluggable pieces: what a differentiable search needs to know about a space
//! without any tensors. A space names its cell types and ops, turns α into an architecture (by
//! argmax or from SGAS decisions), and says which op is the skip connection whose dominance
//! signals a collapse. The tensor half (the supernet itself) lives in the engine.
//!
//! Adding a space: a module here implementing [`SearchSpace`], its supernet in the engine, and
//! one variant in [`crate::config::SupernetConfig`] (docs/architecture.md lists the files).

pub mod darts;
pub mod darts_rnn;
pub mod nb201;

use crate::arch::Architecture;
use crate::config::Space;
use crate::search::{DeriveError, EdgeState, SgasCellState, SgasError};
use serde::{Deserialize, Serialize};

pub use self::darts::DartsSpace;
pub use self::darts_rnn::DartsRnnSpace;
pub use self::nb201::Nb201Space;

/// α of one cell type at the end of an epoch: raw values and their per-edge softmax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellAlphas {
    pub cell: String,
    pub alpha: Vec<Vec<f64>>,
    pub probs: Vec<Vec<f64>>,
}

impl CellAlphas {
    pub fn new(cell: &str, alpha: Vec<Vec<f64>>) -> Self {
        CellAlphas { cell: cell.to_string(), probs: crate::search::softmax_rows(&alpha), alpha }
    }
}

/// The engine-free half of a search space.
pub trait SearchSpace: Send + Sync {
    fn kind(&self) -> Space;

    /// The cell types that carry their own α, in supernet order ("cell"; "normal", "reduce").
    fn cell_names(&self) -> &'static [&'static str];

    /// Op names by α column.
    fn op_names(&self) -> Vec<&'static str>;

    /// The α column of the skip connection, if the space has one.
    fn skip_op(&self) -> Option<usize>;

    /// An op column the argmax derivation never picks (DARTS's `none`).
    fn ignored_by_argmax(&self) -> Option<usize>;

    /// The architecture by the space's argmax rule over raw α (DARTS: top-2 inputs per node).
    fn derive(&self, cells: &[CellAlphas]) -> Result<Architecture, DeriveError>;

    /// One empty SGAS state per cell type.
    fn sgas_cells(&self, history: usize) -> Result<Vec<SgasCellState>, SgasError>;

    /// The architecture from SGAS decisions, undecided edges filled the way SGAS logs them.
    fn sgas_architecture(&self, sgas: &[SgasCellState], cells: &[CellAlphas]) -> Result<Architecture, SgasError>;

    /// Edges (of all cells) whose decided op, or whose strongest op by the argmax rule, is the
    /// skip connection: the collapse signal of DARTS.
    fn skip_count(&self, cells: &[CellAlphas], states: &[Vec<EdgeState>]) -> usize {
        let Some(skip) = self.skip_op() else { return 0 };
        let ignored = self.ignored_by_argmax();
        let strongest = |p: &[f64]| {
            p.iter().enumerate().filter(|(k, _)| Some(*k) != ignored).max_by(|a, b| a.1.total_cmp(b.1)).map(|(k, _)| k)
        };
        let counts = cells.iter().zip(states).map(|(c, st)| {
            c.probs
                .iter()
                .zip(st)
                .filter(|(p, s)| match s {
                    EdgeState::Fixed(k) => *k == skip,
                    EdgeState::Pruned => false,
                    EdgeState::Mixed => strongest(p) == Some(skip),
                })
                .count()
        });
        counts.sum()
    }
}
