//! Discrete architectures from continuous α: the DARTS top-2 rule and the NAS-Bench-201 argmax.

use crate::darts::{CellKind, DartsOp, Genotype, GenotypeError, OpSet};
use crate::nb201::{Nb201Arch, Nb201Op};

use super::topology::{CellTopology, TopologyError};

/// A matrix (α or its softmax) of the wrong shape or with a non-finite entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatrixError {
    #[error("{found} rows, expected {expected} (one per edge of the cell)")]
    Rows { expected: usize, found: usize },
    #[error("row {row} has {found} columns, expected {expected} (one per op of the op set)")]
    Columns { row: usize, expected: usize, found: usize },
    #[error(
        "entry [{row}][{column}] is {value}; α must be finite (a NaN or infinite α usually means the \
         architecture step diverged)"
    )]
    NonFinite { row: usize, column: usize, value: f64 },
}

/// Checks that `m` is `rows × columns` and finite.
pub(crate) fn check_matrix(m: &[Vec<f64>], rows: usize, columns: usize) -> Result<(), MatrixError> {
    if m.len() != rows {
        return Err(MatrixError::Rows { expected: rows, found: m.len() });
    }
    for (row, r) in m.iter().enumerate() {
        if r.len() != columns {
            return Err(MatrixError::Columns { row, expected: columns, found: r.len() });
        }
        if let Some((column, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(MatrixError::NonFinite { row, column, value });
        }
    }
    Ok(())
}

/// Why a genotype could not be derived.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeriveError {
    #[error(transparent)]
    Topology(#[from] TopologyError),
    #[error("{cell} α: {source}")]
    Alpha { cell: &'static str, source: MatrixError },
    #[error("derived genotype is invalid: {0}")]
    Genotype(#[from] GenotypeError),
    #[error("{0}")]
    Recurrent(String),
}

/// Row-wise softmax; the row maximum is subtracted first so that large α cannot overflow `exp`.
pub fn softmax_rows(alpha: &[Vec<f64>]) -> Vec<Vec<f64>> {
    alpha
        .iter()
        .map(|row| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = row.iter().map(|&a| (a - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            exps.into_iter().map(|e| e / sum).collect()
        })
        .collect()
}

/// Index of the first maximum among `columns` of `row` (strict `>` keeps the earliest on ties, as
/// the reference's hand-written loop and `argmax` do).
pub(crate) fn first_argmax(row: &[f64], columns: impl IntoIterator<Item = usize>) -> Option<usize> {
    let mut best: Option<usize> = None;
    for k in columns {
        if best.is_none_or(|b| row[k] > row[b]) {
            best = Some(k);
        }
    }
    best
}

/// One DARTS cell by the top-2 rule (quark0/darts `genotype()`; docs/algorithms.md#darts), from α of shape `num_edges × ops.len()`.
///
/// Per node, each incoming edge is ranked by its strongest non-`none` softmax weight and the two
/// strongest are kept, each with its strongest non-`none` op. Pairs come out in rank order
/// (strongest first), not input order: the reference appends them in the order its sort returns
/// them, and genotype strings printed by the reference show that order. Python's sort is stable,
/// so of two equally strong edges the one with the lower input index ranks first. With an op set
/// without `none`, every column counts.
pub fn derive_darts_cell(
    alpha: &[Vec<f64>],
    ops: &OpSet,
    topology: CellTopology,
) -> Result<Vec<(DartsOp, usize)>, MatrixError> {
    check_matrix(alpha, topology.num_edges(), ops.len())?;
    let weights = softmax_rows(alpha);
    let real: Vec<usize> = (0..ops.len()).filter(|&k| ops.get(k) != Some(DartsOp::None)).collect();
    let keep = topology.kept_inputs().unwrap_or(usize::MAX);
    let mut pairs = Vec::new();
    for node in 0..topology.num_nodes() {
        let range = topology.edges_of_node(node);
        let strength = |e: usize| real.iter().map(|&k| weights[e][k]).fold(f64::NEG_INFINITY, f64::max);
        let mut ranked: Vec<(usize, f64)> = range.clone().map(|e| (e, strength(e))).collect();
        // `sort_by` is stable, like Python's `sorted`, so ties keep input order.
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        for &(e, _) in ranked.iter().take(keep) {
            // `real` is non-empty (OpSet guarantees a non-`none` op) and the column is in range.
            let k = first_argmax(&weights[e], real.iter().copied()).unwrap_or(0);
            let op = ops.get(k).unwrap_or(DartsOp::None);
            pairs.push((op, e - range.start));
        }
    }
    Ok(pairs)
}

/// A DARTS genotype from the normal and reduction α (top-2 rule, docs/algorithms.md#darts); concat = all intermediate nodes.
pub fn derive_darts(
    normal: &[Vec<f64>],
    reduce: &[Vec<f64>],
    ops: &OpSet,
    steps: usize,
) -> Result<Genotype, DeriveError> {
    let topology = CellTopology::darts(steps)?;
    let cell = |kind: CellKind, alpha: &[Vec<f64>]| {
        derive_darts_cell(alpha, ops, topology).map_err(|source| DeriveError::Alpha { cell: kind.name(), source })
    };
    let normal = cell(CellKind::Normal, normal)?;
    let reduce = cell(CellKind::Reduce, reduce)?;
    let concat: Vec<usize> = (2..steps + 2).collect();
    Ok(Genotype::new(normal, concat.clone(), reduce, concat)?)
}

/// A NAS-Bench-201 cell: per edge the argmax of α over all five ops, `none` included (AutoDL `search_model_darts.py`; docs/algorithms.md#nb201).
///
/// The reference takes the argmax of raw α, not of its softmax; the two agree except when `exp`
/// underflows, so raw α is used here too. Ties go to the lower column.
pub fn derive_nb201(alpha: &[Vec<f64>]) -> Result<Nb201Arch, DeriveError> {
    let topology = CellTopology::Nb201;
    check_matrix(alpha, topology.num_edges(), Nb201Op::ALL.len())
        .map_err(|source| DeriveError::Alpha { cell: "nb201", source })?;
    let mut ops = [Nb201Op::None; 6];
    for (e, row) in alpha.iter().enumerate() {
        let k = first_argmax(row, 0..row.len()).unwrap_or(0);
        ops[e] = Nb201Op::from_index(k).unwrap_or(Nb201Op::None);
    }
    Ok(Nb201Arch::new(ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use DartsOp::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn softmax_is_stable_and_normalised() {
        let p = softmax_rows(&[vec![1000.0, 1000.0 + 2f64.ln()], vec![0.0, 0.0, 0.0, 0.0]]);
        // e^0 : e^{ln 2} = 1 : 2, without overflowing at 1000.
        assert!(close(p[0][0], 1.0 / 3.0) && close(p[0][1], 2.0 / 3.0));
        assert!(p[1].iter().all(|&x| close(x, 0.25)));
        let q = softmax_rows(&[vec![-1000.0, 0.0]]);
        assert_eq!(q[0], vec![0.0, 1.0]);
    }

    /// α rows for the 5-op SGAS-es set [none, max_pool, skip, sep3, dil3]: `hot(k, v)` has `v` at
    /// column `k` and 0 elsewhere, so its strength grows with `v` and its best op is column `k`.
    fn hot(k: usize, v: f64) -> Vec<f64> {
        let mut r = vec![0.0; 5];
        r[k] = v;
        r
    }

    #[test]
    fn darts_keeps_the_two_strongest_edges_in_rank_order() {
        let ops = OpSet::sgas_es();
        // steps 2: node 0 = edges 0,1 (inputs 0,1); node 1 = edges 2,3,4 (inputs 0,1,2).
        let alpha = vec![
            hot(3, 1.0), // node 0, input 0: sep_conv_3x3, weaker
            hot(4, 2.0), // node 0, input 1: dil_conv_3x3, stronger ⇒ listed first
            hot(1, 3.0), // node 1, input 0: max_pool, strongest
            hot(2, 0.5), // node 1, input 1: weakest ⇒ dropped
            hot(2, 1.5), // node 1, input 2: skip_connect, second
        ];
        let cell = derive_darts_cell(&alpha, &ops, CellTopology::darts(2).unwrap()).unwrap();
        assert_eq!(cell, vec![(DilConv3x3, 1), (SepConv3x3, 0), (MaxPool3x3, 0), (SkipConnect, 2)]);
    }

    #[test]
    fn darts_ties_keep_the_lower_input_first() {
        let ops = OpSet::sgas_es();
        // All three edges of node 1 are equally strong ⇒ inputs 0 and 1 win, in that order.
        // Within a row, a tie between skip (2) and sep3 (3) picks the lower column.
        let tie = vec![0.0, 0.0, 1.0, 1.0, 0.0];
        let alpha = vec![hot(1, 1.0), hot(1, 1.0), tie.clone(), tie.clone(), tie];
        let cell = derive_darts_cell(&alpha, &ops, CellTopology::darts(2).unwrap()).unwrap();
        assert_eq!(cell, vec![(MaxPool3x3, 0), (MaxPool3x3, 1), (SkipConnect, 0), (SkipConnect, 1)]);
    }

    #[test]
    fn darts_none_dominating_an_edge_makes_it_weak_and_is_never_chosen() {
        let ops = OpSet::sgas_es();
        // Edge 2's raw argmax is `none` (α 5) ⇒ its best real op has weight e^0/(e^5+4) ≈ 0.0066,
        // the weakest of node 1 although its α entries are the largest.
        let alpha = vec![hot(3, 1.0), hot(3, 1.0), vec![5.0, 0.0, 0.0, 0.0, 0.0], hot(4, 0.1), hot(2, 0.1)];
        let cell = derive_darts_cell(&alpha, &ops, CellTopology::darts(2).unwrap()).unwrap();
        assert_eq!(&cell[2..], &[(DilConv3x3, 1), (SkipConnect, 2)]);
        // Node 0 with `none` dominating both edges still yields a real op (first real column on
        // the tie among zeros).
        let alpha =
            vec![vec![9.0, 0.0, 0.0, 0.0, 0.0], vec![9.0, 0.0, 0.0, 0.0, 0.0], hot(1, 1.0), hot(1, 1.0), hot(1, 1.0)];
        let cell = derive_darts_cell(&alpha, &ops, CellTopology::darts(2).unwrap()).unwrap();
        assert_eq!(&cell[..2], &[(MaxPool3x3, 0), (MaxPool3x3, 1)]);
    }

    #[test]
    fn darts_without_none_counts_every_column() {
        let ops = OpSet::new(vec![SkipConnect, SepConv3x3]).unwrap();
        // Column 0 (skip) is a real op here and wins where it is largest.
        let alpha = vec![vec![2.0, 0.0], vec![0.0, 1.0], vec![0.0, 0.5], vec![3.0, 0.0], vec![0.0, 0.0]];
        let cell = derive_darts_cell(&alpha, &ops, CellTopology::darts(2).unwrap()).unwrap();
        assert_eq!(cell, vec![(SkipConnect, 0), (SepConv3x3, 1), (SkipConnect, 1), (SepConv3x3, 0)]);
    }

    #[test]
    fn darts_genotype_has_both_cells_and_full_concat() {
        let ops = OpSet::darts();
        let mut normal = vec![vec![0.0; 8]; 14];
        let mut reduce = vec![vec![0.0; 8]; 14];
        for node in 0..4 {
            let range = CellTopology::darts(4).unwrap().edges_of_node(node);
            // Normal: the last two inputs with sep_conv_3x3 (col 4); reduce: inputs 0, 1 with
            // max_pool (col 1).
            normal[range.end - 1][4] = 2.0;
            normal[range.end - 2][4] = 1.0;
            reduce[range.start][1] = 1.0;
            reduce[range.start + 1][1] = 1.0;
        }
        let g = derive_darts(&normal, &reduce, &ops, 4).unwrap();
        assert_eq!(
            g.to_string(),
            "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 2), \
             ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 2), ('sep_conv_3x3', 4), \
             ('sep_conv_3x3', 3)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), \
             ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1), ('max_pool_3x3', 0), \
             ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
        );
    }

    #[test]
    fn darts_shape_errors_name_the_cell_and_the_numbers() {
        let ops = OpSet::sgas_es();
        let good = vec![vec![0.0; 5]; 5];
        let short = vec![vec![0.0; 5]; 4];
        let err = derive_darts(&good, &short, &ops, 2).unwrap_err();
        assert_eq!(err, DeriveError::Alpha { cell: "reduce", source: MatrixError::Rows { expected: 5, found: 4 } });
        assert!(err.to_string().starts_with("reduce α: 4 rows, expected 5"));
        let mut narrow = good.clone();
        narrow[3] = vec![0.0; 8];
        let err = derive_darts(&narrow, &good, &ops, 2).unwrap_err();
        assert!(err.to_string().contains("row 3 has 8 columns, expected 5"));
        let mut nan = good.clone();
        nan[1][2] = f64::NAN;
        let err = derive_darts(&nan, &good, &ops, 2).unwrap_err();
        assert!(err.to_string().contains("entry [1][2] is NaN"));
        assert_eq!(derive_darts(&good, &good, &ops, 0).unwrap_err(), DeriveError::Topology(TopologyError::ZeroSteps));
    }

    #[test]
    fn nb201_takes_the_argmax_over_all_ops_including_none() {
        use Nb201Op as O;
        let alpha = vec![
            vec![0.9, 0.1, 0.2, 0.3, 0.4], // none wins ⇒ kept as none
            vec![0.0, 0.0, 0.0, 1.0, 0.0],
            vec![0.0, 0.5, 0.5, 0.0, 0.0], // tie ⇒ lower column (skip)
            vec![0.0, 0.0, 0.0, 0.0, 0.1],
            vec![0.0; 5], // all equal ⇒ none
            vec![-1.0, -1.0, 0.0, -1.0, -1.0],
        ];
        let arch = derive_nb201(&alpha).unwrap();
        assert_eq!(arch.ops, [O::None, O::NorConv3x3, O::SkipConnect, O::AvgPool3x3, O::None, O::NorConv1x1]);
        let err = derive_nb201(&alpha[..5]).unwrap_err();
        assert!(err.to_string().starts_with("nb201 α: 5 rows, expected 6"));
    }
}
