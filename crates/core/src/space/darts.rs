//! The DARTS CNN cell space (Liu et al., ICLR 2019; quark0/darts): a normal and a reduction cell,
//! each with `steps` intermediate nodes fed by every earlier node (2 + 3 + … edges), over an op set
//! (the 8 DARTS ops, or SGAS-es's 5). The argmax keeps each node's two strongest inputs and never
//! picks `none`.

use super::{CellAlphas, SearchSpace};
use crate::arch::Architecture;
use crate::config::Space;
use crate::darts::{DartsOp, OpSet};
use crate::search::{derive_darts, sgas, DeriveError, SgasCellState, SgasError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DartsSpace {
    pub ops: OpSet,
    pub steps: usize,
}

impl SearchSpace for DartsSpace {
    fn kind(&self) -> Space {
        Space::Darts
    }

    fn cell_names(&self) -> &'static [&'static str] {
        &["normal", "reduce"]
    }

    fn op_names(&self) -> Vec<&'static str> {
        self.ops.ops().iter().map(|o| o.name()).collect()
    }

    fn skip_op(&self) -> Option<usize> {
        self.ops.index_of(DartsOp::SkipConnect)
    }

    fn ignored_by_argmax(&self) -> Option<usize> {
        self.ops.index_of(DartsOp::None)
    }

    fn derive(&self, cells: &[CellAlphas]) -> Result<Architecture, DeriveError> {
        Ok(Architecture::Darts(derive_darts(&cells[0].alpha, &cells[1].alpha, &self.ops, self.steps)?))
    }

    fn sgas_cells(&self, history: usize) -> Result<Vec<SgasCellState>, SgasError> {
        let cell = SgasCellState::darts(&self.ops, self.steps, history)?;
        Ok(vec![cell.clone(), cell])
    }

    fn sgas_architecture(&self, sgas: &[SgasCellState], cells: &[CellAlphas]) -> Result<Architecture, SgasError> {
        let g = sgas::genotype_force(&sgas[0], &cells[0].probs, &sgas[1], &cells[1].probs, &self.ops)?;
        Ok(Architecture::Darts(g))
    }
}
