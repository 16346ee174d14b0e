//! SGD with momentum, Nesterov and coupled weight decay (PyTorch's `torch.optim.SGD` semantics), the
//! cosine schedule, and gradient-norm clipping.
//!
//! We own the optimiser instead of using `tch::nn::Optimizer` because an exact resume needs its state
//! (the momentum buffers) saved and restored, which tch's C++ optimiser does not expose.

use std::collections::BTreeMap;
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

/// Named parameters and their momentum buffers, in a fixed (name-sorted) order.
pub struct Sgd {
    pub config: SgdConfig,
    params: Vec<(String, Tensor)>,
    buffers: Vec<Option<Tensor>>,
}

impl Sgd {
    pub fn new(config: SgdConfig, params: Vec<(String, Tensor)>) -> Self {
        let n = params.len();
        Sgd { config, params, buffers: (0..n).map(|_| None).collect() }
    }

    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    /// Momentum buffers, aligned with `params()` (None before a parameter's first step).
    pub fn buffers(&self) -> &[Option<Tensor>] {
        &self.buffers
    }

    pub fn zero_grad(&mut self) {
        for (_, p) in &mut self.params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.detach_().zero_();
            }
        }
    }

    /// Gradients of `loss` for every parameter, `None` where the loss does not reach it (an op off the
    /// sampled path). This is PyTorch's `zero_grad(set_to_none=True)` world: such parameters then get
    /// no weight decay and no momentum update, and whether a parameter was reached never has to be
    /// remembered across steps (or checkpoints).
    pub fn grads(&self, loss: &Tensor) -> Vec<Option<Tensor>> {
        grads_of(loss, &self.params)
    }

    /// One step with the `.grad()` of each parameter (undefined ones skipped).
    pub fn step(&mut self, lr: f64) {
        let grads: Vec<Option<Tensor>> =
            self.params.iter().map(|(_, p)| Some(p.grad()).filter(|g| g.defined())).collect();
        self.step_with(&grads, lr);
    }

    /// One step at learning rate `lr` with explicit gradients. Mirrors torch.optim.SGD: d = g + wd·p;
    /// b = μ·b + d (b = d on the first step); d = d + μ·b (Nesterov) or b; p -= lr·d. Parameters whose
    /// gradient is `None` are skipped entirely.
    pub fn step_with(&mut self, grads: &[Option<Tensor>], lr: f64) {
        let c = self.config;
        tch::no_grad(|| {
            for (((_, p), buf), g) in self.params.iter_mut().zip(self.buffers.iter_mut()).zip(grads) {
                let Some(g) = g else { continue };
                let mut d = if c.weight_decay != 0.0 { g + &*p * c.weight_decay } else { g.shallow_clone() };
                if c.momentum != 0.0 {
                    let b = match buf.take() {
                        None => d.detach().copy(),
                        Some(mut b) => {
                            let _ = b.g_mul_scalar_(c.momentum).g_add_(&d);
                            b
                        }
                    };
                    d = if c.nesterov { d + &b * c.momentum } else { b.shallow_clone() };
                    *buf = Some(b);
                }
                let _ = p.g_sub_(&(d * lr));
            }
        });
    }

    /// Momentum buffers by parameter name, for checkpoints.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        self.params
            .iter()
            .zip(&self.buffers)
            .filter_map(|((n, _), b)| b.as_ref().map(|b| (format!("momentum.{n}"), b.shallow_clone())))
            .collect()
    }

    pub fn load_state(&mut self, state: &BTreeMap<String, Tensor>) {
        for ((n, p), buf) in self.params.iter().zip(self.buffers.iter_mut()) {
            *buf = state.get(&format!("momentum.{n}")).map(|t| t.to_device(p.device()).detach());
        }
    }
}

/// Gradients of `loss` for each of `params` (in order), `None` where the loss does not reach one.
pub fn grads_of(loss: &Tensor, params: &[(String, Tensor)]) -> Vec<Option<Tensor>> {
    let params: Vec<Tensor> = params.iter().map(|(_, p)| p.shallow_clone()).collect();
    Tensor::run_backward(&[loss], &params, false, false).into_iter().map(|g| g.defined().then_some(g)).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Coupled L2 (added to the gradient), as torch.optim.Adam's weight_decay.
    pub weight_decay: f64,
}

/// torch.optim.Adam (not AdamW) over a list of tensors, skipping those without a gradient: a frozen α
/// keeps its moments and step count unchanged, exactly as PyTorch does for `grad is None`.
pub struct Adam {
    pub config: AdamConfig,
    moments: Vec<Option<(Tensor, Tensor, i64)>>,
}

impl Adam {
    pub fn new(config: AdamConfig, n: usize) -> Self {
        Adam { config, moments: (0..n).map(|_| None).collect() }
    }

    /// One step over `params` (same order every call); `grads[i]` is None for a frozen parameter.
    pub fn step(&mut self, params: &[Tensor], grads: &[Option<Tensor>]) {
        let c = self.config;
        tch::no_grad(|| {
            for ((p, g), slot) in params.iter().zip(grads).zip(self.moments.iter_mut()) {
                let Some(g) = g else { continue };
                let g = if c.weight_decay != 0.0 { g + p * c.weight_decay } else { g.shallow_clone() };
                let (m, v, t) = slot.get_or_insert_with(|| (p.zeros_like(), p.zeros_like(), 0));
                *t += 1;
                let _ = m.g_mul_scalar_(c.beta1).g_add_(&(&g * (1.0 - c.beta1)));
                let _ = v.g_mul_scalar_(c.beta2).g_add_(&(&g * &g * (1.0 - c.beta2)));
                let bc1 = 1.0 - c.beta1.powi(*t as i32);
                let bc2 = 1.0 - c.beta2.powi(*t as i32);
                let denom = v.sqrt() / bc2.sqrt() + c.eps;
                let _ = p.shallow_clone().g_sub_(&(&*m / &denom * (c.lr / bc1)));
            }
        });
    }

    /// Moments and step counts named `<prefix>.<i>.{m,v,t}`, for checkpoints.
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        for (i, slot) in self.moments.iter().enumerate() {
            if let Some((m, v, t)) = slot {
                out.push((format!("{prefix}.{i}.m"), m.shallow_clone()));
                out.push((format!("{prefix}.{i}.v"), v.shallow_clone()));
                out.push((format!("{prefix}.{i}.t"), Tensor::from(*t)));
            }
        }
        out
    }

    pub fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>, device: tch::Device) {
        for (i, slot) in self.moments.iter_mut().enumerate() {
            let get = |k: &str| tensors.get(&format!("{prefix}.{i}.{k}"));
            *slot = match (get("m"), get("v"), get("t")) {
                (Some(m), Some(v), Some(t)) => Some((m.to_device(device), v.to_device(device), t.int64_value(&[]))),
                _ => None,
            };
        }
    }
}

/// Cosine annealing from `lr` to `lr_min` over `epochs` (PyTorch's CosineAnnealingLR, closed form).
pub fn cosine_lr(lr: f64, lr_min: f64, epoch: usize, epochs: usize) -> f64 {
    if epochs == 0 {
        return lr;
    }
    lr_min + 0.5 * (lr - lr_min) * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs as f64).cos())
}

/// Scales all `.grad()`s so their global L2 norm is at most `max_norm`; returns the norm before
/// clipping (PyTorch's clip_grad_norm_, including its 1e-6 guard).
pub fn clip_grad_norm(params: &[(String, Tensor)], max_norm: f64) -> f64 {
    let grads: Vec<Option<Tensor>> = params.iter().map(|(_, p)| Some(p.grad()).filter(|g| g.defined())).collect();
    clip_grads(&grads, max_norm)
}

/// [`clip_grad_norm`] over explicit gradients (scaled in place).
pub fn clip_grads(grads: &[Option<Tensor>], max_norm: f64) -> f64 {
    tch::no_grad(|| {
        let grads: Vec<&Tensor> = grads.iter().flatten().collect();
        if grads.is_empty() {
            return 0.0;
        }
        let norms: Vec<Tensor> = grads.iter().map(|g| g.norm()).collect();
        let total = Tensor::stack(&norms, 0).norm().double_value(&[]);
        let coef = max_norm / (total + 1e-6);
        if coef < 1.0 {
            for g in &grads {
                let _ = g.shallow_clone().g_mul_scalar_(coef);
            }
        }
        total
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn scalar_param(v: f64) -> Tensor {
        Tensor::from_slice(&[v]).to_kind(Kind::Double).set_requires_grad(true)
    }

    fn run_steps(nesterov: bool) -> Vec<f64> {
        // Loss = p² / 2 ⇒ grad = p. Hand-derived trajectory below.
        let p = scalar_param(1.0);
        let cfg = SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 0.5, nesterov };
        let mut opt = Sgd::new(cfg, vec![("p".into(), p.shallow_clone())]);
        let mut out = vec![];
        for _ in 0..2 {
            opt.zero_grad();
            (&p * &p * 0.5).sum(Kind::Double).backward();
            opt.step(0.1);
            out.push(p.double_value(&[0]));
        }
        out
    }

    #[test]
    fn sgd_matches_hand_derived_pytorch_semantics() {
        // Step 1: d = 1 + 0.5·1 = 1.5, b = 1.5, p = 1 − 0.15 = 0.85.
        // Step 2: d = 0.85·1.5 = 1.275, b = 0.9·1.5 + 1.275 = 2.625, p = 0.85 − 0.2625 = 0.5875.
        let v = run_steps(false);
        assert!((v[0] - 0.85).abs() < 1e-12 && (v[1] - 0.5875).abs() < 1e-12, "{v:?}");
        // Nesterov step 1: d = 1.5 + 0.9·1.5 = 2.85, p = 0.715.
        // Step 2: d = 1.5·0.715 = 1.0725, b = 1.35 + 1.0725 = 2.4225, d' = 1.0725 + 2.18025 = 3.25275,
        // p = 0.715 − 0.325275 = 0.389725.
        let v = run_steps(true);
        assert!((v[0] - 0.715).abs() < 1e-12 && (v[1] - 0.389725).abs() < 1e-12, "{v:?}");
    }

    #[test]
    fn momentum_state_round_trips() {
        let p = scalar_param(1.0);
        let cfg = SgdConfig { lr: 0.1, momentum: 0.9, weight_decay: 0.0, nesterov: false };
        let mut a = Sgd::new(cfg, vec![("p".into(), p.shallow_clone())]);
        (&p * 2.0).sum(Kind::Double).backward();
        a.step(0.1);
        let state = a.state();
        assert_eq!(state["momentum.p"].double_value(&[0]), 2.0);
        let q = scalar_param(1.0);
        let mut b = Sgd::new(cfg, vec![("p".into(), q.shallow_clone())]);
        b.load_state(&state);
        assert_eq!(b.state()["momentum.p"].double_value(&[0]), 2.0);
    }

    #[test]
    fn adam_matches_hand_derived_steps_and_skips_frozen() {
        // f(p) = p²/2, grad = p; lr 0.1, betas (0.5, 0.999), wd 0.
        // t=1: m = 0.5·1 = 0.5, v = 0.001·1, m̂ = 1, v̂ = 1, p = 1 − 0.1·1/(1+1e-8) ≈ 0.9.
        let p = Tensor::from_slice(&[1.0f64]);
        let frozen = Tensor::from_slice(&[3.0f64]);
        let cfg = AdamConfig { lr: 0.1, beta1: 0.5, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let mut adam = Adam::new(cfg, 2);
        adam.step(&[p.shallow_clone(), frozen.shallow_clone()], &[Some(p.copy()), None]);
        assert!((p.double_value(&[0]) - 0.9).abs() < 1e-7);
        assert_eq!(frozen.double_value(&[0]), 3.0);
        // t=2: g = 0.9, m = 0.25 + 0.45 = 0.7, v = 0.999e-3 + 0.81e-3 = 1.809e-3,
        // m̂ = 0.7/0.75, v̂ = 1.809e-3/(1 − 0.999²) = 1.809e-3/1.999e-3.
        adam.step(&[p.shallow_clone(), frozen.shallow_clone()], &[Some(p.copy()), None]);
        let m_hat = 0.7 / 0.75;
        let v_hat: f64 = 1.809e-3 / (1.0 - 0.999f64.powi(2));
        let want = 0.9 - 0.1 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((p.double_value(&[0]) - want).abs() < 1e-9, "{} vs {want}", p.double_value(&[0]));
        assert_eq!(adam.state("a").len(), 3, "only the updated parameter has state");
    }

    #[test]
    fn cosine_endpoints_and_midpoint() {
        assert_eq!(cosine_lr(0.025, 0.001, 0, 50), 0.025);
        assert!((cosine_lr(0.025, 0.001, 25, 50) - 0.013).abs() < 1e-12);
        assert!((cosine_lr(0.025, 0.001, 50, 50) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn clipping_rescales_to_max_norm() {
        let a = Tensor::from_slice(&[3.0f64]).set_requires_grad(true);
        let b = Tensor::from_slice(&[4.0f64]).set_requires_grad(true);
        ((&a * &a + &b * &b) * 0.5).sum(Kind::Double).backward(); // grads 3 and 4, norm 5
        let params = vec![("a".to_string(), a.shallow_clone()), ("b".to_string(), b.shallow_clone())];
        let norm = clip_grad_norm(&params, 1.0);
        assert!((norm - 5.0).abs() < 1e-12);
        let ga = a.grad().double_value(&[0]);
        assert!((ga - 3.0 / (5.0 + 1e-6)).abs() < 1e-9, "{ga}");
        let _ = Device::Cpu;
    }
}
