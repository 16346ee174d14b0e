//! The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): one cell type, 6 edges over 4 nodes, 5
//! ops with `none` at column 0. The argmax keeps `none` as a candidate, as AutoDL's search code does.

use super::{CellAlphas, SearchSpace};
use crate::arch::Architecture;
use crate::config::Space;
use crate::nb201::Nb201Op;
use crate::search::{derive_nb201, DeriveError, SgasCellState, SgasError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Nb201Space;

impl SearchSpace for Nb201Space {
    fn kind(&self) -> Space {
        Space::Nb201
    }

    fn cell_names(&self) -> &'static [&'static str] {
        &["cell"]
    }

    fn op_names(&self) -> Vec<&'static str> {
        Nb201Op::ALL.iter().map(|o| o.name()).collect()
    }

    fn skip_op(&self) -> Option<usize> {
        Some(Nb201Op::SkipConnect as usize)
    }

    fn ignored_by_argmax(&self) -> Option<usize> {
        None
    }

    fn derive(&self, cells: &[CellAlphas]) -> Result<Architecture, DeriveError> {
        Ok(Architecture::Nb201(derive_nb201(&cells[0].alpha)?))
    }

    fn sgas_cells(&self, history: usize) -> Result<Vec<SgasCellState>, SgasError> {
        Ok(vec![SgasCellState::nb201(history)?])
    }

    fn sgas_architecture(&self, sgas: &[SgasCellState], cells: &[CellAlphas]) -> Result<Architecture, SgasError> {
        Ok(Architecture::Nb201(sgas[0].nb201_arch_force(&cells[0].probs)?))
    }
}
