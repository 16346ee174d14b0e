//! The mixed operation on one supernet edge: every candidate op, weighted by softmax(α).

use super::supernet::EdgeState;
use crate::nn::layers::BatchNorm2d;
use crate::nn::ops::{BnMode, Op};
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

    fn is_zero(&self) -> bool {
        matches!(self, Candidate::Plain(Op::Zero { .. }))
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
                    Candidate::PoolBn(built, BatchNorm2d::new(&(&q / 1), c, false, bn.track_running_stats))
                } else {
                    Candidate::Plain(built)
                }
            })
            .collect();
        MixedOp { ops }
    }

    /// NAS-Bench-201 mixed op over the 5 ops, named `<p>.<k>` (the reference's ModuleList per edge).
    pub fn nb201(p: &Path, c: i64, bn: BnMode) -> Self {
        let ops = Nb201Op::ALL
            .iter()
            .enumerate()
            .map(|(k, &op)| Candidate::Plain(Op::nb201(&(p / k), op, c, c, 1, bn)))
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
