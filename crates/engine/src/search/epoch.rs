//! One epoch of bilevel training, its validation pass, and the λmax probe on its last α batch.

use super::architect::{cross_entropy, Architect};
use super::hessian::HessianProbe;
use super::{SearchError, Supernet};
use crate::progress::Progress;
use crate::run::{stream_seed, to_tensors, Stream};
use crate::train::optim::{clip_grads, Sgd};
use oxnas_core::config::{EigenMethod, SearchConfig, StepOrder};
use oxnas_core::data::Loader;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// The three views of the search split: weight batches, α batches (drawn at random beside each
/// weight batch), and the in-order validation pass at the end of an epoch.
pub struct Loaders {
    pub train: Loader,
    pub alpha: Loader,
    pub eval: Loader,
}

/// What training one epoch measured.
pub struct TrainedEpoch {
    pub loss: f64,
    pub accuracy: f64,
    pub images: usize,
    pub seconds: f64,
    /// The epoch's last α batch: the Hessian probe's batch.
    pub last_alpha_batch: Option<(Tensor, Tensor)>,
}

/// The optimisers and the network one search trains.
pub struct Trainee {
    pub net: Box<dyn Supernet>,
    pub w_opt: Sgd,
    pub architect: Architect,
}

impl Trainee {
    /// Trains w and α for one epoch. `iteration` keys the random streams, so an epoch re-run after
    /// a rollback draws fresh batches.
    pub fn train_epoch(
        &mut self,
        cfg: &SearchConfig,
        loaders: &Loaders,
        (epoch, iteration, lr): (usize, usize, f64),
        device: Device,
        progress: &mut dyn Progress<super::SearchEpoch>,
    ) -> Result<TrainedEpoch, SearchError> {
        let started = std::time::Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
        let mut last = None;
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.run.seed, iteration, 0, Stream::AlphaBatches));
        for (step, batch) in loaders.train.epoch(iteration as u64).enumerate() {
            let (x, y) = to_tensors(&batch, device);
            let (xv, yv) = to_tensors(&loaders.alpha.sample_batch(&mut rng), device);
            let (value, hits) = self.bilevel_step(cfg, (&x, &y), (&xv, &yv), lr);
            if !value.is_finite() {
                let what = format!("the training loss became {value} at epoch {}, step {}", epoch + 1, step + 1);
                return Err(SearchError::Diverged { what, kept: String::new() });
            }
            loss_sum += value * batch.batch as f64;
            correct += hits;
            seen += batch.batch;
            last = Some((xv, yv));
            progress.batch(step + 1, value);
        }
        Ok(TrainedEpoch {
            loss: loss_sum / seen.max(1) as f64,
            accuracy: 100.0 * correct as f64 / seen.max(1) as f64,
            images: seen,
            seconds: started.elapsed().as_secs_f64(),
            last_alpha_batch: last,
        })
    }

    /// One α step and one w step on a batch, in the configured order; the w loss and the number of
    /// correct predictions. A non-finite loss leaves the weights unchanged.
    fn bilevel_step(
        &mut self,
        cfg: &SearchConfig,
        train: (&Tensor, &Tensor),
        alpha: (&Tensor, &Tensor),
        lr: f64,
    ) -> (f64, i64) {
        let order = cfg.arch.step_order;
        if order == StepOrder::AlphaFirst {
            self.architect.step(self.net.as_ref(), train, alpha, lr, &self.w_opt);
        }
        let logits = self.net.forward_t(train.0, true);
        let loss = cross_entropy(&logits, train.1);
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return (value, 0);
        }
        let grads = self.w_opt.grads(&loss);
        if cfg.optim.grad_clip > 0.0 {
            clip_grads(&grads, cfg.optim.grad_clip);
        }
        self.w_opt.step_with(&grads, lr);
        if order == StepOrder::WeightsFirst {
            self.architect.step(self.net.as_ref(), train, alpha, lr, &self.w_opt);
        }
        (value, logits.argmax(1, false).eq_tensor(train.1).sum(Kind::Int64).int64_value(&[]))
    }

    /// λmax of the validation loss w.r.t. the undecided α on `batch`, with the probe's time; `None`
    /// when every α is decided.
    pub fn lambda_max(
        &self,
        probe: &HessianProbe,
        method: EigenMethod,
        seed: u64,
        batch: &(Tensor, Tensor),
    ) -> Result<Option<(f64, f64)>, SearchError> {
        let alphas = self.net.trainable_alphas();
        if alphas.is_empty() {
            return Ok(None);
        }
        let net = self.net.as_ref();
        let mut loss_fn = || cross_entropy(&net.forward_t(&batch.0, true), &batch.1);
        let report = probe.lambda_max(&mut loss_fn, &alphas, method, seed)?;
        Ok(Some((report.lambda_max, report.seconds)))
    }
}

/// Mean loss and accuracy (%) of the supernet in evaluation mode.
pub fn evaluate_supernet(net: &dyn Supernet, loader: &Loader, device: Device) -> (f64, f64) {
    let (mut loss, mut correct, mut n) = (0.0, 0i64, 0usize);
    tch::no_grad(|| {
        for batch in loader.epoch(0) {
            let (x, y) = to_tensors(&batch, device);
            let logits = net.forward_t(&x, false);
            loss += cross_entropy(&logits, &y).double_value(&[]) * batch.batch as f64;
            correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
            n += batch.batch;
        }
    });
    (loss / n.max(1) as f64, 100.0 * correct as f64 / n.max(1) as f64)
}
