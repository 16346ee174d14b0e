//! The architecture step of the bilevel optimisation (see docs/algorithms.md#darts; quark0/darts `cnn/architect.py`): the gradient of the validation loss
//! w.r.t. α, first order (w fixed) or second order (through one unrolled SGD step of w), then Adam.

use super::supernet::{EdgeState, Supernet};
use crate::train::optim::{Adam, AdamConfig, Sgd};
use tch::{Kind, Tensor};

/// First order: ∇_α L_val(w, α) (DARTS-V1, and SGAS/SGAS-es's default). Second order:
/// ∇_α L_val(w′, α) − ξ ∇²_{α,w} L_train(w, α) ∇_{w′} L_val(w′, α), w′ = one SGD step from w (DARTS-V2).
pub use oxnas_core::config::Order;

pub fn cross_entropy(logits: &Tensor, y: &Tensor) -> Tensor {
    // log_softmax in the logits' own kind: cross_entropy_for_logits would drop f64 tests to f32.
    logits.log_softmax(-1, logits.kind()).nll_loss(y)
}

/// All α rows of all cells, in the fixed order the optimiser state is keyed by.
pub fn all_alphas(net: &dyn Supernet) -> Vec<(Tensor, bool)> {
    net.arch()
        .iter()
        .flat_map(|c| c.alphas.iter().zip(&c.states).map(|(a, s)| (a.shallow_clone(), matches!(s, EdgeState::Mixed))))
        .collect()
}

pub struct Architect {
    pub adam: Adam,
    pub order: Order,
}

/// A batch on the device: images and labels.
pub type Batch<'a> = (&'a Tensor, &'a Tensor);

impl Architect {
    pub fn new(config: AdamConfig, num_alpha_rows: usize, order: Order) -> Self {
        Architect { adam: Adam::new(config, num_alpha_rows), order }
    }

    /// One α update. `w_opt` supplies the weights, their momentum buffers and weight decay (second
    /// order needs them for the unrolled step); `lr` is the current w learning rate ξ.
    pub fn step(&mut self, net: &dyn Supernet, train: Batch, valid: Batch, lr: f64, w_opt: &Sgd) {
        let rows = all_alphas(net);
        let trainable: Vec<Tensor> = rows.iter().filter(|(_, t)| *t).map(|(a, _)| a.shallow_clone()).collect();
        if trainable.is_empty() {
            return;
        }
        let grads = match self.order {
            Order::First => {
                let loss = cross_entropy(&net.forward_t(valid.0, true), valid.1);
                Tensor::run_backward(&[loss], &trainable, false, false)
            }
            Order::Second => unrolled_alpha_grads(net, &trainable, train, valid, lr, w_opt),
        };
        let mut it = grads.into_iter();
        let per_row: Vec<Option<Tensor>> = rows.iter().map(|(_, t)| if *t { it.next() } else { None }).collect();
        let params: Vec<Tensor> = rows.into_iter().map(|(a, _)| a).collect();
        self.adam.step(&params, &per_row);
    }
}

/// DARTS's second-order α gradient with its finite-difference mixed term (Liu et al., ICLR 2019; quark0/darts; docs/algorithms.md#darts):
/// g = ∇_α L_val(w′, α) − ξ · [∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)] / (2ε),
/// w′ = w − ξ(μ·m + ∇_w L_train(w, α) + λ·w), v = ∇_{w′} L_val(w′, α), w± = w ± ε·v, ε = 0.01/‖v‖.
///
/// Several ports write the divisor as `/ 2.*eps`, which Python parses as `(·/2)·eps`; here the
/// difference is divided by 2ε. The model's weights and BN statistics are restored afterwards, so the
/// probe forwards leave no trace (the reference builds a separate unrolled model for w′).
pub fn unrolled_alpha_grads(
    net: &dyn Supernet,
    alphas: &[Tensor],
    train: Batch,
    valid: Batch,
    xi: f64,
    w_opt: &Sgd,
) -> Vec<Tensor> {
    let weights: Vec<Tensor> = w_opt.params().iter().map(|(_, t)| t.shallow_clone()).collect();
    let mu = w_opt.config.momentum;
    let wd = w_opt.config.weight_decay;
    let snapshot: Vec<(Tensor, Tensor)> =
        net.weights().variables().into_values().map(|v| (v.shallow_clone(), v.detach().copy())).collect();
    let restore = || {
        tch::no_grad(|| {
            for (v, saved) in &snapshot {
                v.shallow_clone().copy_(saved);
            }
        })
    };
    let w0: Vec<Tensor> = weights.iter().map(|w| w.detach().copy()).collect();

    let loss_train = cross_entropy(&net.forward_t(train.0, true), train.1);
    let g_w = Tensor::run_backward(&[loss_train], &weights, false, false);
    tch::no_grad(|| {
        for (i, (w, g)) in weights.iter().zip(&g_w).enumerate() {
            let decayed = g + &w0[i] * wd;
            let d = match w_opt.buffers().get(i) {
                Some(Some(m)) => decayed + m * mu,
                _ => decayed,
            };
            w.shallow_clone().copy_(&(&w0[i] - d * xi));
        }
    });

    let loss_val = cross_entropy(&net.forward_t(valid.0, true), valid.1);
    let inputs: Vec<Tensor> = alphas.iter().chain(weights.iter()).map(|t| t.shallow_clone()).collect();
    let g = Tensor::run_backward(&[loss_val], &inputs, false, false);
    let (d_alpha, v) = g.split_at(alphas.len());
    let norm = Tensor::stack(&v.iter().map(|t| t.norm().to_kind(Kind::Double)).collect::<Vec<_>>(), 0)
        .norm()
        .double_value(&[]);
    let eps = 0.01 / norm.max(1e-12);

    let grad_at = |sign: f64| -> Vec<Tensor> {
        tch::no_grad(|| {
            for ((w, w0), v) in weights.iter().zip(&w0).zip(v) {
                w.shallow_clone().copy_(&(w0 + v * (sign * eps)));
            }
        });
        let loss = cross_entropy(&net.forward_t(train.0, true), train.1);
        Tensor::run_backward(&[loss], alphas, false, false)
    };
    let g_plus = grad_at(1.0);
    let g_minus = grad_at(-1.0);
    restore();
    d_alpha.iter().zip(g_plus.iter().zip(&g_minus)).map(|(d, (p, m))| d - (p - m) / (2.0 * eps) * xi).collect()
}
