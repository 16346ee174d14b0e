//! The architecture step of the bilevel optimisation (see docs/algorithms.md#darts; quark0/darts `cnn/architect.py`): the gradient of the validation loss
//! w.r.t. α, first order (w fixed) or second order (through one unrolled SGD step of w), then Adam.

use super::supernet::{EdgeState, ImageSupernet, Supernet};
use crate::train::optim::{Adam, AdamConfig, Sgd};
use tch::{nn::VarStore, Kind, Tensor};

/// First order: ∇_α L_val(w, α) (DARTS-V1, and SGAS/SGAS-es's default). Second order:
/// ∇_α L_val(w′, α) − ξ ∇²_{α,w} L_train(w, α) ∇_{w′} L_val(w′, α), w′ = one SGD step from w (DARTS-V2).
pub use oxnas_core::config::Order;

pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> Tensor {
    // log_softmax in the logits' own kind: cross_entropy_for_logits would drop f64 tests to f32.
    logits.log_softmax(-1, logits.kind()).nll_loss(y)
}

/// All α rows of all cells, in the fixed order the optimiser state is keyed by.
pub fn all_alphas<N: Supernet + ?Sized>(net: &N) -> Vec<(Tensor, bool)> {
    net.arch()
        .iter()
        .flat_map(|c| c.alphas.iter().zip(&c.states).map(|(a, s)| (a.shallow_clone(), matches!(s, EdgeState::Mixed))))
        .collect()
}

/// The two losses of the bilevel problem, each a fresh forward pass at the supernet's current
/// weights: `train` on the w batch, `valid` on the α batch. The workload decides what a batch is
/// (images and labels, or a text window and the hidden state it starts from).
pub trait BilevelLosses {
    fn train(&mut self) -> Tensor;
    fn valid(&mut self) -> Tensor;
}

/// An image batch pair and the supernet that classifies it.
pub struct ImageLosses<'a, N: ImageSupernet + ?Sized> {
    pub net: &'a N,
    pub train: Batch<'a>,
    pub valid: Batch<'a>,
}

impl<N: ImageSupernet + ?Sized> BilevelLosses for ImageLosses<'_, N> {
    fn train(&mut self) -> Tensor {
        cross_entropy(&self.net.forward_t(self.train.0, true), self.train.1)
    }
    fn valid(&mut self) -> Tensor {
        cross_entropy(&self.net.forward_t(self.valid.0, true), self.valid.1)
    }
}

pub struct Architect {
    pub adam: Adam,
    pub order: Order,
    /// Gradient clipping inside the unrolled step (the recurrent reference clips there at the w
    /// clip norm; the CNN references do not).
    pub unrolled_clip: Option<f64>,
}

/// A batch on the device: images and labels.
pub type Batch<'a> = (&'a Tensor, &'a Tensor);

impl Architect {
    pub fn new(config: AdamConfig, num_alpha_rows: usize, order: Order, unrolled_clip: Option<f64>) -> Self {
        Architect { adam: Adam::new(config, num_alpha_rows), order, unrolled_clip }
    }

    /// One α update. `w_opt` supplies the weights, their momentum buffers and weight decay (second
    /// order needs them for the unrolled step); `lr` is the current w learning rate ξ.
    pub fn step<N: Supernet + ?Sized>(&mut self, net: &N, losses: &mut dyn BilevelLosses, lr: f64, w_opt: &Sgd) {
        let rows = all_alphas(net);
        let trainable: Vec<Tensor> = rows.iter().filter(|(_, t)| *t).map(|(a, _)| a.shallow_clone()).collect();
        if trainable.is_empty() {
            return;
        }
        let grads = match self.order {
            Order::First => Tensor::run_backward(&[losses.valid()], &trainable, false, false),
            Order::Second => {
                let unrolled = Unrolled { xi: lr, w_opt, clip: self.unrolled_clip };
                unrolled.alpha_grads(net.weights(), &trainable, losses)
            }
        };
        let mut it = grads.into_iter();
        let per_row: Vec<Option<Tensor>> = rows.iter().map(|(_, t)| if *t { it.next() } else { None }).collect();
        let params: Vec<Tensor> = rows.into_iter().map(|(a, _)| a).collect();
        self.adam.step(&params, &per_row);
    }
}

/// DARTS's second-order α gradient with its finite-difference mixed term (Liu et al., ICLR 2019;
/// quark0/darts; docs/algorithms.md#darts):
/// g = ∇_α L_val(w′, α) − ξ·k · [∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)] / (2ε),
/// w′ = w − ξ(μ·m + k·∇_w L_train(w, α) + λ·w), v = ∇_{w′} L_val(w′, α), w± = w ± ε·v, ε = 0.01/‖v‖.
///
/// Without clipping k = 1. With a clip norm c (the recurrent reference, `rnn/architect.py`), the
/// training gradient is scaled by k = min(1, c/‖∇_w L_train‖) before the unrolled step and v is
/// clipped to norm c. The reference multiplies the mixed term by c/‖∇_w L_train‖ even when that
/// exceeds 1 and the gradient was left unscaled; here the factor is the one the step applied, the
/// derivative of w′ that was actually taken.
///
/// Several ports write the divisor as `/ 2.*eps`, which Python parses as `(·/2)·eps`; here the
/// difference is divided by 2ε. The model's weights and BN statistics are restored afterwards, so the
/// probe forwards leave no trace (the reference builds a separate unrolled model for w′).
pub struct Unrolled<'a> {
    pub xi: f64,
    pub w_opt: &'a Sgd,
    pub clip: Option<f64>,
}

impl Unrolled<'_> {
    pub fn alpha_grads(&self, vs: &VarStore, alphas: &[Tensor], losses: &mut dyn BilevelLosses) -> Vec<Tensor> {
        let weights: Vec<Tensor> = self.w_opt.params().iter().map(|(_, t)| t.shallow_clone()).collect();
        let snapshot: Vec<(Tensor, Tensor)> =
            vs.variables().into_values().map(|v| (v.shallow_clone(), v.detach().copy())).collect();
        let w0: Vec<Tensor> = weights.iter().map(|w| w.detach().copy()).collect();

        let g_w = Tensor::run_backward(&[losses.train()], &weights, false, false);
        let k = self.clip.map_or(1.0, |c| (c / (global_norm(&g_w) + 1e-6)).min(1.0));
        self.step_to_w_prime(&weights, &w0, &g_w, k);

        let loss_val = losses.valid();
        let inputs: Vec<Tensor> = alphas.iter().chain(weights.iter()).map(|t| t.shallow_clone()).collect();
        let g = Tensor::run_backward(&[loss_val], &inputs, false, false);
        let (d_alpha, v) = g.split_at(alphas.len());
        let mut norm = global_norm(v);
        // A weight outside the forward pass (an op of a decided or pruned edge) has no gradient: it
        // stays where it is, as the real SGD step leaves it.
        let v: Vec<Option<Tensor>> = match self.clip {
            Some(c) if norm > c => {
                let scale = c / (norm + 1e-6);
                norm *= scale;
                v.iter().map(|t| t.defined().then(|| t * scale)).collect()
            }
            _ => v.iter().map(|t| t.defined().then(|| t.shallow_clone())).collect(),
        };
        let eps = 0.01 / norm.max(1e-12);

        let mut grad_at = |sign: f64| -> Vec<Tensor> {
            tch::no_grad(|| {
                for ((w, w0), v) in weights.iter().zip(&w0).zip(&v) {
                    if let Some(v) = v {
                        w.shallow_clone().copy_(&(w0 + v * (sign * eps)));
                    }
                }
            });
            Tensor::run_backward(&[losses.train()], alphas, false, false)
        };
        let g_plus = grad_at(1.0);
        let g_minus = grad_at(-1.0);
        tch::no_grad(|| {
            for (v, saved) in &snapshot {
                v.shallow_clone().copy_(saved);
            }
        });
        let xi = self.xi * k;
        d_alpha.iter().zip(g_plus.iter().zip(&g_minus)).map(|(d, (p, m))| d - (p - m) / (2.0 * eps) * xi).collect()
    }

    /// w′ = w − ξ(μ·m + k·g + λ·w), written into the weights.
    fn step_to_w_prime(&self, weights: &[Tensor], w0: &[Tensor], g_w: &[Tensor], k: f64) {
        let (mu, wd) = (self.w_opt.config.momentum, self.w_opt.config.weight_decay);
        tch::no_grad(|| {
            for (i, (w, g)) in weights.iter().zip(g_w).enumerate().filter(|(_, (_, g))| g.defined()) {
                let decayed = g * k + &w0[i] * wd;
                let d = match self.w_opt.buffers().get(i) {
                    Some(Some(m)) => decayed + m * mu,
                    _ => decayed,
                };
                w.shallow_clone().copy_(&(&w0[i] - d * self.xi));
            }
        });
    }
}

/// ‖(t₁, t₂, …)‖₂ over all entries of the defined tensors, in f64.
fn global_norm(ts: &[Tensor]) -> f64 {
    let norms: Vec<Tensor> = ts.iter().filter(|t| t.defined()).map(|t| t.norm().to_kind(Kind::Double)).collect();
    if norms.is_empty() {
        return 0.0;
    }
    Tensor::stack(&norms, 0).norm().double_value(&[])
}
