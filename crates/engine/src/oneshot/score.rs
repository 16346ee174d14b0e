//! Scoring cells with inherited supernet weights, under a chosen treatment of batch normalisation.

use super::SinglePathNet;
use crate::nn::layers::with_bn_momentum;
use crate::search::architect::cross_entropy;
use oxnas_core::oneshot::ArchError;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// How BN layers normalise while a cell is scored; engine-free, so configs can name it.
pub use oxnas_core::config::BnScoring;

/// Scores cells on fixed held-out batches (tensors built once, so scoring thousands of cells costs
/// only their forward passes).
pub struct Scorer {
    pub eval: Vec<(Tensor, Tensor)>,
    pub recal: Vec<Tensor>,
    pub bn: BnScoring,
}

/// One architecture's result with inherited weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CellScore {
    /// The space's figure of merit ([`oxnas_core::oneshot::RankSpace::metric`]): accuracy in percent
    /// on the image spaces, perplexity on the recurrent one.
    pub score: f64,
    /// Mean cross-entropy (per image, per token).
    pub loss: f64,
}

/// Scores architectures one after another with one supernet's weights and held-out data.
pub trait ArchScorer {
    /// Scores every architecture in `archs` (canonical strings of the supernet's space), calling
    /// `progress(i)` after the i-th; the supernet is as before afterwards.
    fn score_all(&mut self, archs: &[String], progress: &mut dyn FnMut(usize)) -> Result<Vec<CellScore>, ArchError>;
}

/// An image supernet with its [`Scorer`].
pub struct ImageScoring {
    pub scorer: Scorer,
    pub net: Box<dyn SinglePathNet>,
}

impl ArchScorer for ImageScoring {
    fn score_all(&mut self, archs: &[String], progress: &mut dyn FnMut(usize)) -> Result<Vec<CellScore>, ArchError> {
        self.scorer.score_all(self.net.as_mut(), archs, progress)
    }
}

impl Scorer {
    /// `eval`: held-out batches; `recal`: training batches for recalibration (K of them).
    pub fn new(eval: Vec<(Tensor, Tensor)>, recal: Vec<Tensor>, bn: BnScoring) -> Self {
        Scorer { eval, recal, bn }
    }

    /// Scores every architecture in `archs` (canonical strings of the net's space), calling
    /// `progress(i)` after each. The supernet's weights and BN statistics are as before afterwards,
    /// also when an architecture is refused.
    pub fn score_all(
        &self,
        net: &mut dyn SinglePathNet,
        archs: &[String],
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<CellScore>, ArchError> {
        let stats = BnStats::of(net.weights());
        stats.preserved(|| {
            let score = |(i, arch): (usize, &String)| {
                let s = self.score(net, arch, &stats);
                progress(i + 1);
                s
            };
            archs.iter().enumerate().map(score).collect()
        })
    }

    fn score(&self, net: &mut dyn SinglePathNet, arch: &str, stats: &BnStats) -> Result<CellScore, ArchError> {
        net.set_path(arch)?;
        Ok(tch::no_grad(|| {
            if self.bn == BnScoring::Recalibrate {
                stats.reset();
                for (i, x) in self.recal.iter().enumerate() {
                    let _ = with_bn_momentum(1.0 / (i + 1) as f64, || net.forward_t(x, true));
                }
            }
            let train_mode = self.bn == BnScoring::Train;
            let (mut correct, mut loss, mut n) = (0i64, 0.0, 0i64);
            for (x, y) in &self.eval {
                let logits = net.forward_t(x, train_mode);
                let b = y.size()[0];
                loss += cross_entropy(&logits, y).double_value(&[]) * b as f64;
                correct += logits.argmax(1, false).eq_tensor(y).sum(Kind::Int64).int64_value(&[]);
                n += b;
            }
            CellScore { score: 100.0 * correct as f64 / n.max(1) as f64, loss: loss / n.max(1) as f64 }
        }))
    }
}

/// The BN running statistics among a net's weights (shallow handles): what scoring saves and puts
/// back, and what recalibration resets.
pub(super) struct BnStats {
    buffers: Vec<(String, Tensor)>,
}

impl BnStats {
    pub(super) fn of(weights: &VarStore) -> BnStats {
        let vars = weights.variables().into_iter();
        BnStats { buffers: vars.filter(|(k, _)| k.ends_with("running_mean") || k.ends_with("running_var")).collect() }
    }

    /// Means to 0, variances to 1: a BN layer's fresh state.
    pub(super) fn reset(&self) {
        tch::no_grad(|| {
            for (name, t) in &self.buffers {
                let _ = t.shallow_clone().fill_(if name.ends_with("running_mean") { 0.0 } else { 1.0 });
            }
        });
    }

    /// Runs `f` and puts the statistics back as they were before it, whatever `f` returns.
    pub(super) fn preserved<T>(&self, f: impl FnOnce() -> T) -> T {
        let saved: Vec<Tensor> = self.buffers.iter().map(|(_, t)| t.detach().copy()).collect();
        let out = f();
        tch::no_grad(|| {
            for ((_, t), s) in self.buffers.iter().zip(&saved) {
                t.shallow_clone().copy_(s);
            }
        });
        out
    }
}
