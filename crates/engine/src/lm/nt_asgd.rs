//! The language model's optimiser: plain SGD with weight decay, then averaged SGD (ASGD) once
//! validation stalls (NT-ASGD, Merity et al. 2018, as quark0/darts `rnn/train.py` uses it).
//!
//! After the switch the weights keep taking SGD steps while an average of them is kept beside; it is
//! the average that is evaluated and saved. The reference builds `torch.optim.ASGD(lr, t0=0,
//! lambd=0)`, whose bookkeeping we reproduce exactly, quirks included:
//! - the step size of step k is the learning rate in effect at step k-1 (torch's `eta` is updated
//!   after each step), the ASGD constructor's unscaled rate at the first step;
//! - the averaging weight of step k is `1 / max(1, k - 1)`, so the average restarts at step 2 and
//!   is the mean of the weights after steps 2..k.

use std::collections::BTreeMap;
use tch::Tensor;

/// The averaged phase's state; `step` counts ASGD steps taken.
pub struct Averaged {
    pub step: u64,
    /// Step size of the next step.
    pub eta: f64,
    /// Averaging weight of the next step.
    pub mu: f64,
    /// The running average of each parameter, aligned with the parameters.
    pub ax: Vec<Tensor>,
}

/// Scalars of [`Averaged`] for the checkpoint header (the averages go in as tensors).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AveragedScalars {
    pub step: u64,
    pub eta: f64,
    pub mu: f64,
}

pub struct NtAsgd {
    params: Vec<(String, Tensor)>,
    weight_decay: f64,
    averaged: Option<Averaged>,
}

impl NtAsgd {
    /// `params` in a fixed (name-sorted) order.
    pub fn new(params: Vec<(String, Tensor)>, weight_decay: f64) -> Self {
        NtAsgd { params, weight_decay, averaged: None }
    }

    pub fn params(&self) -> &[(String, Tensor)] {
        &self.params
    }

    pub fn is_averaging(&self) -> bool {
        self.averaged.is_some()
    }

    /// Switches to averaged SGD; `lr` is the first step's size (the reference passes its base rate).
    pub fn start_averaging(&mut self, lr: f64) {
        let ax = tch::no_grad(|| self.params.iter().map(|(_, p)| p.zeros_like()).collect());
        self.averaged = Some(Averaged { step: 0, eta: lr, mu: 1.0, ax });
    }

    /// One step with `grads` at learning rate `lr` (already scaled for the window's length).
    pub fn step(&mut self, grads: &[Option<Tensor>], lr: f64) {
        let wd = self.weight_decay;
        let size = self.averaged.as_ref().map_or(lr, |a| a.eta);
        tch::no_grad(|| {
            for ((_, p), g) in self.params.iter().zip(grads) {
                let Some(g) = g else { continue };
                // p - size·(g + wd·p), computed in place as p·(1 - size·wd) - size·g: one temporary
                // instead of three, which matters for the vocab-sized embedding (profiled).
                let mut p = p.shallow_clone();
                if wd != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - size * wd);
                }
                let _ = p.g_sub_(&(g * size));
            }
        });
        if let Some(a) = self.averaged.as_mut() {
            a.step += 1;
            tch::no_grad(|| {
                for ((_, p), ax) in self.params.iter().zip(&mut a.ax) {
                    if a.mu == 1.0 {
                        ax.copy_(p);
                    } else {
                        let _ = ax.g_add_(&((p - &*ax) * a.mu));
                    }
                }
            });
            a.eta = lr;
            a.mu = 1.0 / (a.step as f64).max(1.0);
        }
    }

    /// Runs `f` with the averaged weights in place of the current ones (the current ones while
    /// plain SGD runs), then puts the current ones back.
    pub fn with_averaged<R>(&self, f: impl FnOnce() -> R) -> R {
        let Some(a) = &self.averaged else { return f() };
        let swap = |params: &[(String, Tensor)], ax: &[Tensor]| {
            tch::no_grad(|| {
                for ((_, p), x) in params.iter().zip(ax) {
                    let tmp = p.detach().copy();
                    p.shallow_clone().copy_(x);
                    x.shallow_clone().copy_(&tmp);
                }
            })
        };
        swap(&self.params, &a.ax);
        let out = f();
        swap(&self.params, &a.ax);
        out
    }

    /// The averaging state for a checkpoint: scalars, and `asgd.ax.{name}` tensors.
    pub fn state(&self) -> (Option<AveragedScalars>, BTreeMap<String, Tensor>) {
        let Some(a) = &self.averaged else { return (None, BTreeMap::new()) };
        let tensors = self.params.iter().zip(&a.ax).map(|((n, _), x)| (format!("asgd.ax.{n}"), x.shallow_clone()));
        (Some(AveragedScalars { step: a.step, eta: a.eta, mu: a.mu }), tensors.collect())
    }

    /// Restores [`NtAsgd::state`]; names the first missing average.
    pub fn load_state(
        &mut self,
        scalars: Option<AveragedScalars>,
        tensors: &BTreeMap<String, Tensor>,
    ) -> Result<(), String> {
        let Some(s) = scalars else {
            self.averaged = None;
            return Ok(());
        };
        let ax = self
            .params
            .iter()
            .map(|(n, p)| {
                let key = format!("asgd.ax.{n}");
                tensors.get(&key).map(|t| t.to_device(p.device()).detach().copy()).ok_or(key)
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(|key| format!("the checkpoint is averaging but has no {key}"))?;
        self.averaged = Some(Averaged { step: s.step, eta: s.eta, mu: s.mu, ax });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(v: f64) -> Tensor {
        Tensor::from_slice(&[v as f32]).set_requires_grad(true)
    }

    /// torch.optim.ASGD(lr=1, t0=0, lambd=0, weight_decay=0.5) on p = 1 with gradients 1, 2, 3 and
    /// rates 1, 0.5, 0.25 set before each step, worked by hand from its update rule:
    /// - step 1 (eta = 1, the constructor's): d = 1 + 0.5·1 = 1.5, p = -0.5; mu = 1, so ax = -0.5;
    ///   then eta = 1 (the rate set for step 1), mu = 1/max(1, 1) = 1;
    /// - step 2 (eta = 1): d = 2 + 0.5·(-0.5) = 1.75, p = -2.25; mu = 1, ax = -2.25; then eta = 0.5,
    ///   mu = 1/2;
    /// - step 3 (eta = 0.5): d = 3 + 0.5·(-2.25) = 1.875, p = -3.1875; ax = -2.25 + (-0.9375)/2 =
    ///   -2.71875 (the mean of steps 2 and 3); then eta = 0.25, mu = 1/3.
    #[test]
    fn averaged_steps_follow_torch_asgd() {
        let p = scalar(1.0);
        let mut opt = NtAsgd::new(vec![("p".into(), p.shallow_clone())], 0.5);
        opt.start_averaging(1.0);
        for (g, lr) in [(1.0, 1.0), (2.0, 0.5), (3.0, 0.25)] {
            opt.step(&[Some(Tensor::from_slice(&[g as f32]))], lr);
        }
        assert_eq!(p.double_value(&[0]), -3.1875);
        let (s, t) = opt.state();
        assert_eq!(s, Some(AveragedScalars { step: 3, eta: 0.25, mu: 1.0 / 3.0 }));
        assert_eq!(t["asgd.ax.p"].double_value(&[0]), -2.71875);
        // Evaluation sees the average; the weights are back afterwards.
        assert_eq!(opt.with_averaged(|| p.double_value(&[0])), -2.71875);
        assert_eq!(p.double_value(&[0]), -3.1875);
    }

    #[test]
    fn plain_sgd_before_the_switch_and_state_round_trip() {
        let p = scalar(2.0);
        let mut opt = NtAsgd::new(vec![("p".into(), p.shallow_clone())], 0.0);
        opt.step(&[Some(Tensor::from_slice(&[1.0f32]))], 0.5);
        assert_eq!(p.double_value(&[0]), 1.5);
        assert_eq!(opt.state().0, None);
        assert_eq!(opt.with_averaged(|| p.double_value(&[0])), 1.5);
        opt.start_averaging(0.5);
        opt.step(&[Some(Tensor::from_slice(&[1.0f32]))], 0.5);
        let (s, t) = opt.state();
        let mut other = NtAsgd::new(vec![("p".into(), p.shallow_clone())], 0.0);
        other.load_state(s, &t).unwrap();
        assert_eq!(other.state().0, s);
        assert!(other.state().1["asgd.ax.p"].equal(&t["asgd.ax.p"]));
        let e = other.load_state(s, &BTreeMap::new()).unwrap_err();
        assert_eq!(e, "the checkpoint is averaging but has no asgd.ax.p");
    }
}
