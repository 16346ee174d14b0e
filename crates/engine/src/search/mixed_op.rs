//! The mixed operation on one supernet edge: every candidate op, weighted by softmax(α).

use super::supernet::EdgeState;
use crate::nn::layers::BatchNorm2d;
use crate::nn::ops::{BnMode, Op, SharedInput};
use oxnas_core::config::Execution;
use oxnas_core::darts::{DartsOp, OpSet};
use oxnas_core::nb201::Nb201Op;
use tch::{nn::Path, Tensor};

/// A candidate op. DARTS search follows every pooling op with a BN without affine parameters (the
/// reference's `Sequential(pool, BatchNorm2d(C, affine=False))`, hence the BN at index 1).
pub enum Candidate {
    Plain(Op),
    PoolBn(Op, BatchNorm2d),
}

impl Candidate {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Candidate::Plain(op) => op.forward_t(x, train),
            Candidate::PoolBn(op, bn) => bn.forward_t(&op.forward_t(x, train), train),
        }
    }

    /// A pooling op followed by its BN without affine parameters, at `<p>.1`: the name a
    /// `Sequential(pool, BatchNorm2d)` gives it.
    fn pool_bn(pool: Op, p: &Path, c: i64, bn: BnMode) -> Self {
        Candidate::PoolBn(pool, BatchNorm2d::new(&(p / 1), c, false, bn.track_running_stats))
    }

    fn is_zero(&self) -> bool {
        matches!(self, Candidate::Plain(Op::Zero { .. }))
    }

    /// One column's candidates on the edges leaving a node, run together (see [`Op::forward_stacked`]).
    /// A pooling op is computed once; each edge's own BN then normalises it.
    fn forward_stacked(members: &[&Candidate], input: &SharedInput, train: bool) -> Vec<Tensor> {
        match members[0] {
            Candidate::Plain(_) => {
                let ops: Vec<&Op> = members.iter().map(|c| c.op()).collect();
                Op::forward_stacked(&ops, input, train)
            }
            Candidate::PoolBn(op, _) => {
                let pooled = Op::forward_stacked(&[op], input, train).remove(0);
                members
                    .iter()
                    .map(|c| match c {
                        Candidate::PoolBn(_, bn) => bn.forward_t(&pooled, train),
                        Candidate::Plain(op) => op.forward_t(input.x, train),
                    })
                    .collect()
            }
        }
    }

    fn op(&self) -> &Op {
        match self {
            Candidate::Plain(op) | Candidate::PoolBn(op, _) => op,
        }
    }
}

pub struct MixedOp {
    ops: Vec<Candidate>,
}

impl MixedOp {
    /// DARTS-space mixed op over `set` on C channels, named `<p>._ops.<k>` like the reference.
    pub fn darts(p: &Path, set: &OpSet, c: i64, stride: i64, bn: BnMode) -> Self {
        let ops = set
            .ops()
            .iter()
            .enumerate()
            .map(|(k, &op)| {
                let q = p / "_ops" / k;
                let built = Op::darts(&q, op, c, stride, bn);
                if matches!(op, DartsOp::MaxPool3x3 | DartsOp::AvgPool3x3) {
                    Candidate::pool_bn(built, &q, c, bn)
                } else {
                    Candidate::Plain(built)
                }
            })
            .collect();
        MixedOp { ops }
    }

    /// NAS-Bench-201 mixed op over the 5 ops, named `<p>.<k>` (the reference's ModuleList per edge).
    /// With `pool_bn`, avg_pool_3x3 is followed by a BN without affine parameters at `<p>.<k>.1`.
    pub fn nb201(p: &Path, c: i64, bn: BnMode, pool_bn: bool) -> Self {
        let ops = Nb201Op::ALL
            .iter()
            .enumerate()
            .map(|(k, &op)| {
                let q = p / k;
                let built = Op::nb201(&q, op, c, c, 1, bn);
                if pool_bn && op == Nb201Op::AvgPool3x3 {
                    Candidate::pool_bn(built, &q, c, bn)
                } else {
                    Candidate::Plain(built)
                }
            })
            .collect();
        MixedOp { ops }
    }

    /// `weights` is softmax(α_e) for a mixed edge (None for a fixed or pruned edge).
    pub fn forward_t(&self, x: &Tensor, state: EdgeState, weights: Option<&Tensor>, train: bool) -> Option<Tensor> {
        match state {
            EdgeState::Pruned => None,
            EdgeState::Fixed(k) => Some(self.ops[k].forward_t(x, train)),
            EdgeState::Mixed => {
                let w = weights.expect("mixed edges come with weights");
                let mut sum: Option<Tensor> = None;
                for (k, op) in self.ops.iter().enumerate() {
                    // w_k · 0 adds nothing to the value and nothing to any gradient: skip the Zero op.
                    if op.is_zero() {
                        continue;
                    }
                    let term = op.forward_t(x, train) * w.get(k as i64);
                    sum = Some(match sum {
                        Some(s) => s + term,
                        None => term,
                    });
                }
                // An op set of only 'none' would leave nothing: a zero output keeps shapes right.
                Some(sum.unwrap_or_else(|| self.ops[0].forward_t(x, train)))
            }
        }
    }
}

/// One edge that leaves a node: its mixed op, its state and, when mixed, softmax(α_e).
pub struct OutEdge<'a> {
    pub op: &'a MixedOp,
    pub state: EdgeState,
    pub weights: Option<&'a Tensor>,
}

/// The outputs of all edges that leave the node `x` (None for pruned edges), in `edges` order.
/// `PerEdge` runs each edge on its own; `Fused` runs the mixed edges' ops column by column with
/// one stacked call per column ([`Candidate::forward_stacked`]) and shares one ReLU of `x`. Each
/// mixed edge still sums its weighted ops in column order, as the per-edge form does, so the two
/// differ only by the stacked kernels' rounding.
pub fn forward_out_edges(x: &Tensor, edges: &[OutEdge], train: bool, execution: Execution) -> Vec<Option<Tensor>> {
    let mixed: Vec<&OutEdge> = edges.iter().filter(|e| e.state == EdgeState::Mixed).collect();
    if execution == Execution::PerEdge || mixed.is_empty() {
        return edges.iter().map(|e| e.op.forward_t(x, e.state, e.weights, train)).collect();
    }
    let mut mixed_out = fused_mixed(x, &mixed, train).into_iter();
    edges
        .iter()
        .map(|e| match e.state {
            EdgeState::Mixed => mixed_out.next(),
            _ => e.op.forward_t(x, e.state, None, train),
        })
        .collect()
}

fn fused_mixed(x: &Tensor, edges: &[&OutEdge], train: bool) -> Vec<Tensor> {
    let relu = x.relu();
    let input = SharedInput { x, relu: &relu };
    let columns = &edges[0].op.ops;
    let mut sums: Vec<Option<Tensor>> = edges.iter().map(|_| None).collect();
    for (k, column) in columns.iter().enumerate() {
        // As in the per-edge form, w_k · 0 contributes nothing: the zero op is not run.
        if column.is_zero() {
            continue;
        }
        let members: Vec<&Candidate> = edges.iter().map(|e| &e.op.ops[k]).collect();
        let outputs = Candidate::forward_stacked(&members, &input, train);
        for ((sum, y), e) in sums.iter_mut().zip(outputs).zip(edges) {
            let term = y * e.weights.expect("mixed edges come with weights").get(k as i64);
            *sum = Some(match sum.take() {
                Some(s) => s + term,
                None => term,
            });
        }
    }
    sums.into_iter().zip(edges).map(|(s, e)| s.unwrap_or_else(|| e.op.ops[0].forward_t(x, train))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn::VarStore, Device, Kind};

    fn avg_pool_edge(pool_bn: bool, x: &Tensor) -> Tensor {
        let vs = VarStore::new(Device::Cpu);
        let bn = BnMode { affine: false, track_running_stats: true };
        let edge = MixedOp::nb201(&(vs.root() / "e"), 3, bn, pool_bn);
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert_eq!(names.iter().any(|n| n.starts_with("e.4.1.")), pool_bn, "pool BN buffers: {names:?}");
        edge.forward_t(x, EdgeState::Fixed(Nb201Op::AvgPool3x3 as usize), None, true).unwrap()
    }

    #[test]
    fn nb201_pool_bn_normalises_the_pooled_features_per_channel() {
        tch::manual_seed(3);
        // Channels on different scales and offsets, as node sums are.
        let scale = Tensor::from_slice(&[0.1f32, 1.0, 7.0]).view([1, 3, 1, 1]);
        let x = Tensor::randn([4, 3, 8, 8], (Kind::Float, Device::Cpu)) * &scale + 2.0;
        let plain = avg_pool_edge(false, &x);
        let expected = x.avg_pool2d([3, 3], [1, 1], [1, 1], false, false, None::<i64>);
        assert!(plain.allclose(&expected, 1e-6, 1e-6, false), "without pool_bn the edge is AutoDL's avg_pool_3x3");
        // Training-mode BN by hand: (p - mean_c) / sqrt(var_c + 1e-5), biased variance over N, H, W.
        let dims = [0i64, 2, 3];
        let mean = expected.mean_dim(dims.as_slice(), true, Kind::Float);
        let var = expected.var_dim(dims.as_slice(), false, true);
        let by_hand = (&expected - mean) / (var + 1e-5).sqrt();
        let y = avg_pool_edge(true, &x);
        let err = (&y - &by_hand).abs().max().double_value(&[]);
        assert!(err < 1e-4, "pool_bn edge differs from BN(avg_pool(x)) by {err}");
    }
}
