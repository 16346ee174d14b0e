//! The discrete recurrent cell of a search's α (quark0/darts `RNNModelSearch.genotype`): for each node,
//! the predecessor edge whose strongest real op (not `none`) has the highest softmax weight, with that
//! op. Ties go to the earlier predecessor and the earlier op, as the reference's stable sort and strict
//! comparison do. The output averages all nodes.

use super::{RnnGenotype, RnnOp, STEPS};

/// α of the wrong shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "recurrent α has {rows} rows of {cols} columns, expected {} x {}: one row per edge (node i has \
     i + 1 predecessors) and one column per op (none, tanh, relu, sigmoid, identity)",
    STEPS * (STEPS + 1) / 2, RnnOp::ALL.len()
)]
pub struct AlphaShape {
    pub rows: usize,
    pub cols: usize,
}

pub fn derive(alpha: &[Vec<f64>]) -> Result<RnnGenotype, AlphaShape> {
    let cols = alpha.first().map_or(0, Vec::len);
    if alpha.len() != STEPS * (STEPS + 1) / 2 || alpha.iter().any(|r| r.len() != RnnOp::ALL.len()) {
        return Err(AlphaShape { rows: alpha.len(), cols });
    }
    let probs: Vec<Vec<f64>> = alpha.iter().map(|row| softmax(row)).collect();
    let mut recurrent = Vec::with_capacity(STEPS);
    let mut first = 0;
    for node in 0..STEPS {
        let edges = &probs[first..first + node + 1];
        let best_real = |row: &[f64]| row[1..].iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pred = (0..edges.len()).fold(0, |b, j| if best_real(&edges[j]) > best_real(&edges[b]) { j } else { b });
        let row = &edges[pred];
        let op = (1..row.len()).fold(1, |b, k| if row[k] > row[b] { k } else { b });
        recurrent.push((RnnOp::ALL[op], pred));
        first += node + 1;
    }
    Ok(RnnGenotype { recurrent, concat: (1..=STEPS).collect() })
}

fn softmax(row: &[f64]) -> Vec<f64> {
    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = row.iter().map(|v| (v - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.into_iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_strongest_real_op_per_node_by_hand() {
        let mut alpha = vec![vec![0.0; 5]; 36];
        // Node 0 (row 0): relu. Node 1 (rows 1-2): predecessor 1 by sigmoid, although row 1 has a huge
        // `none`, which never counts. Node 7 (rows 28-35): predecessor 6 (row 34) by identity.
        alpha[0][2] = 1.0;
        alpha[1] = vec![9.0, 0.5, 0.0, 0.0, 0.0];
        alpha[2][3] = 1.0;
        alpha[34][4] = 2.0;
        let g = derive(&alpha).unwrap();
        assert_eq!(g.recurrent[0], (RnnOp::Relu, 0));
        assert_eq!(g.recurrent[1], (RnnOp::Sigmoid, 1));
        assert_eq!(g.recurrent[7], (RnnOp::Identity, 6));
        // All-equal rows: the first predecessor and the first real op (tanh).
        assert_eq!(g.recurrent[3], (RnnOp::Tanh, 0));
        assert_eq!(g.concat, (1..=8).collect::<Vec<_>>());
        g.validate().unwrap();
        let e = derive(&alpha[..35]).unwrap_err();
        assert_eq!(e, AlphaShape { rows: 35, cols: 5 });
        assert!(e.to_string().contains("expected 36 x 5"), "{e}");
    }
}
