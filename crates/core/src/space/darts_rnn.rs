//! The DARTS recurrent-cell space (Liu, Simonyan & Yang, ICLR 2019; quark0/darts `rnn/`): one cell
//! type, "recurrent", whose 8 nodes each read one earlier state through one of 5 ops (`none` at
//! column 0), 36 edges in all. The argmax keeps, for each node, the input whose strongest real op
//! weighs most. SGAS fixes one node (its input and op) per decision, since a node keeps one input.

use super::{CellAlphas, SearchSpace};
use crate::arch::Architecture;
use crate::config::Space;
use crate::darts_rnn::{derive::derive, RnnOp};
use crate::search::{DeriveError, SgasCellState, SgasError};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DartsRnnSpace;

impl SearchSpace for DartsRnnSpace {
    fn kind(&self) -> Space {
        Space::DartsRnn
    }

    fn cell_names(&self) -> &'static [&'static str] {
        &["recurrent"]
    }

    fn op_names(&self) -> Vec<&'static str> {
        RnnOp::ALL.iter().map(|o| o.name()).collect()
    }

    /// `identity` is the recurrent cell's parameter-free op, the one a collapsing search piles onto,
    /// as skip connections in the CNN cells.
    fn skip_op(&self) -> Option<usize> {
        Some(RnnOp::Identity.primitive_index())
    }

    fn ignored_by_argmax(&self) -> Option<usize> {
        Some(RnnOp::None.primitive_index())
    }

    fn derive(&self, cells: &[CellAlphas]) -> Result<Architecture, DeriveError> {
        let g = derive(&cells[0].alpha).map_err(|e| DeriveError::Recurrent(e.to_string()))?;
        Ok(Architecture::DartsRnn(g))
    }

    fn sgas_cells(&self, history: usize) -> Result<Vec<SgasCellState>, SgasError> {
        Ok(vec![SgasCellState::recurrent(history)?])
    }

    fn sgas_architecture(&self, sgas: &[SgasCellState], cells: &[CellAlphas]) -> Result<Architecture, SgasError> {
        Ok(Architecture::DartsRnn(sgas[0].recurrent_genotype(&cells[0].probs)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Criterion;

    /// softmax rows of 36 edges where edge `e` prefers op column `col` with weight `w`.
    fn probs(prefs: &[(usize, usize, f64)]) -> Vec<Vec<f64>> {
        let mut rows = vec![vec![0.2; 5]; 36];
        for &(e, col, w) in prefs {
            rows[e] = vec![(1.0 - w) / 4.0; 5];
            rows[e][col] = w;
        }
        rows
    }

    /// One SGAS decision fixes a node: the most certain, most important edge takes its op and the
    /// node's other inputs are pruned; undecided nodes follow the argmax rule.
    #[test]
    fn an_sgas_decision_fixes_one_node_and_prunes_its_other_inputs() {
        let space = DartsRnnSpace;
        let mut cell = space.sgas_cells(4).unwrap().remove(0);
        // Edge 4 = node 2's input 1, almost surely relu: the highest EI x SC of all edges.
        let p = probs(&[(4, 2, 0.96), (0, 3, 0.5)]);
        let d = cell.decide(&p, Criterion::Cri1).unwrap().unwrap();
        assert_eq!((d.edge, d.op, d.pruned.clone()), (4, RnnOp::Relu as usize, vec![3, 5]));
        let cells = [CellAlphas { cell: "recurrent".into(), alpha: vec![], probs: p }];
        let Architecture::DartsRnn(g) = space.sgas_architecture(std::slice::from_ref(&cell), &cells).unwrap() else {
            panic!("a recurrent genotype")
        };
        assert_eq!(g.recurrent[2], (RnnOp::Relu, 1), "node 2 decided");
        assert_eq!(g.recurrent[0], (RnnOp::Sigmoid, 0), "node 0 by argmax");
        // Uniform rows: ties go to the first input and the first real op.
        assert_eq!(g.recurrent[5], (RnnOp::Tanh, 0));
        // Eight decisions finish the cell.
        for _ in 0..7 {
            cell.decide(&cells[0].probs, Criterion::Cri1).unwrap().unwrap();
        }
        assert!(cell.is_done());
        assert!(cell.decide(&cells[0].probs, Criterion::Cri1).unwrap().is_none());
    }

    #[test]
    fn the_argmax_is_darts_recurrent_derivation_and_counts_identity_as_skip() {
        let mut alpha = vec![vec![0.0, 0.1, 0.0, 0.0, 0.0]; 36];
        alpha[0][4] = 1.0; // node 0: identity
        alpha[2][1] = 2.0; // node 1 reads node 1 through tanh
        let cells = [CellAlphas::new("recurrent", alpha)];
        let Architecture::DartsRnn(g) = DartsRnnSpace.derive(&cells).unwrap() else { panic!() };
        assert_eq!((g.recurrent[0], g.recurrent[1]), ((RnnOp::Identity, 0), (RnnOp::Tanh, 1)));
        let states = vec![vec![crate::search::EdgeState::Mixed; 36]];
        assert_eq!(DartsRnnSpace.skip_count(&cells, &states), 1);
        let e = DartsRnnSpace.derive(&[CellAlphas::new("recurrent", vec![vec![0.0; 5]; 14])]).unwrap_err();
        assert!(e.to_string().contains("36 x 5"), "{e}");
    }
}
