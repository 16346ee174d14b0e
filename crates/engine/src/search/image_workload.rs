//! The image supernets' workload (NB201, DARTS CNN): the search split of a labelled training set,
//! one epoch of bilevel steps over it, the validation pass, and the λmax probe on the epoch's last
//! α batch.

use super::architect::{cross_entropy, ImageLosses};
use super::hessian::HessianProbe;
use super::space::build_supernet;
use super::state::EdgeVector;
use super::workload::{diverged_at, EpochAt, Evaluation, LambdaProbe, TrainedEpoch, Trainee, Workload};
use super::{ImageSupernet, SearchEpoch, SearchError, SecondOrderForm};
use crate::progress::Progress;
use crate::run::{stream_seed, to_tensors, Prelude, RunData, Stream};
use oxnas_core::config::{EigenMethod, SearchConfig, StepOrder};
use oxnas_core::data::{split_by_portion, Loader};
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

pub struct ImageWorkload {
    data: RunData,
    device: Device,
    /// Set by [`Workload::set_batch_size`], before the first epoch.
    loaders: Option<Loaders>,
    /// The last α batch of the epoch just trained: the Hessian probe's batch.
    last_alpha_batch: Option<(Tensor, Tensor)>,
}

impl ImageWorkload {
    fn loaders(&self) -> &Loaders {
        self.loaders.as_ref().expect("set_batch_size runs before the first epoch")
    }
}

impl Workload for ImageWorkload {
    type Net = dyn ImageSupernet;
    const TEXT: bool = false;

    fn load(cfg: &SearchConfig) -> Result<Self, SearchError> {
        let Prelude { device, data } = Prelude::start(&cfg.run, cfg.data.images()?)?;
        Ok(ImageWorkload { data, device, loaders: None, last_alpha_batch: None })
    }

    fn build(&self, cfg: &SearchConfig) -> Result<Box<dyn ImageSupernet>, SearchError> {
        build_supernet(&cfg.supernet, self.data.num_classes(), self.data.in_channels(), self.device)
    }

    fn set_batch_size(&mut self, cfg: &SearchConfig, batch: usize) -> Result<(), SearchError> {
        match &mut self.loaders {
            Some(l) if l.train.batch_size() == batch => {}
            Some(l) => {
                l.train.set_batch_size(batch)?;
                l.alpha.set_batch_size(batch)?;
            }
            None => self.loaders = Some(loaders(cfg, &self.data, batch)?),
        }
        Ok(())
    }

    fn device(&self) -> Device {
        self.device
    }

    fn describe(&self) -> String {
        let l = self.loaders();
        format!(
            "data: {} from {} ({} images train w, {} images train α)",
            self.data.kind,
            self.data.source,
            l.train.len(),
            l.alpha.len()
        )
    }

    fn train_epoch(
        &mut self,
        t: &mut Trainee<dyn ImageSupernet>,
        cfg: &SearchConfig,
        at: EpochAt,
        progress: &mut dyn Progress<SearchEpoch>,
    ) -> Result<TrainedEpoch, SearchError> {
        let started = std::time::Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.run.seed, at.iteration, 0, Stream::AlphaBatches));
        let loaders = self.loaders.as_ref().expect("set_batch_size runs before the first epoch");
        for (step, batch) in loaders.train.epoch(at.iteration as u64).enumerate() {
            let (x, y) = to_tensors(&batch, self.device);
            let (xv, yv) = to_tensors(&loaders.alpha.sample_batch(&mut rng), self.device);
            let (value, hits) = bilevel_step(t, cfg, (&x, &y), (&xv, &yv), at.lr);
            if !value.is_finite() {
                return Err(diverged_at(value, at.epoch, step, "step"));
            }
            loss_sum += value * batch.batch as f64;
            correct += hits;
            seen += batch.batch;
            self.last_alpha_batch = Some((xv, yv));
            progress.batch(step + 1, value);
        }
        Ok(TrainedEpoch {
            loss: loss_sum / seen.max(1) as f64,
            accuracy: Some(100.0 * correct as f64 / seen.max(1) as f64),
            seen,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    fn steps_per_epoch(&self) -> usize {
        self.loaders().train.num_batches()
    }

    fn evaluate(&self, net: &dyn ImageSupernet) -> Evaluation {
        let (loss, accuracy) = evaluate_supernet(net, &self.loaders().eval, self.device);
        Evaluation { loss, accuracy: Some(accuracy) }
    }

    fn lambda_max(
        &self,
        t: &Trainee<dyn ImageSupernet>,
        probe: &HessianProbe,
        method: (EigenMethod, u64),
        (warm, check): (Option<&EdgeVector>, bool),
    ) -> Result<Option<LambdaProbe>, SearchError> {
        let Some((x, y)) = &self.last_alpha_batch else { return Ok(None) };
        let net = t.net.as_ref();
        let _form = SecondOrderForm::enter(net);
        let mut loss = || cross_entropy(&net.forward_t(x, true), y);
        let mut out = t.lambda_max(probe, method, warm, &mut loss)?;
        if let Some(p) = out.as_mut().filter(|_| check) {
            p.check = Some(t.lambda_check(probe, method, &mut loss)?);
        }
        Ok(out)
    }
}

/// One α step and one w step on a batch, in the configured order; the w loss and the number of
/// correct predictions. A non-finite loss leaves the weights unchanged.
fn bilevel_step(
    t: &mut Trainee<dyn ImageSupernet>,
    cfg: &SearchConfig,
    train: (&Tensor, &Tensor),
    alpha: (&Tensor, &Tensor),
    lr: f64,
) -> (f64, i64) {
    let order = cfg.arch.step_order;
    let alpha_step = |t: &mut Trainee<dyn ImageSupernet>| {
        if !t.train_alpha {
            return;
        }
        let mut losses = ImageLosses { net: t.net.as_ref(), train, valid: alpha };
        t.architect.step(t.net.as_ref(), &mut losses, lr, &t.w_opt);
    };
    if order == StepOrder::AlphaFirst {
        alpha_step(t);
    }
    let logits = t.net.forward_t(train.0, true);
    let loss = cross_entropy(&logits, train.1);
    let value = loss.double_value(&[]);
    if !value.is_finite() {
        return (value, 0);
    }
    t.weight_step(&loss, cfg.optim.grad_clip, lr);
    if order == StepOrder::WeightsFirst {
        alpha_step(t);
    }
    (value, logits.argmax(1, false).eq_tensor(train.1).sum(Kind::Int64).int64_value(&[]))
}

/// The search split of the training set: the first part trains w, the rest trains α.
pub(crate) fn loaders(cfg: &SearchConfig, data: &RunData, batch: usize) -> Result<Loaders, SearchError> {
    let split = cfg.split.as_ref().ok_or_else(|| SearchError::Invalid("an image search needs [split]".into()))?;
    let (train_idx, alpha_idx) = split_by_portion(data.train.len(), split.train_portion);
    let (seed, d) = (cfg.run.seed, cfg.data.images()?);
    let eval_idx: Vec<usize> = match split.valid_eval_limit {
        0 => alpha_idx.clone(),
        n => alpha_idx.iter().copied().take(n).collect(),
    };
    Ok(Loaders {
        train: Loader::shuffled(data.train.clone(), train_idx, batch, d.train_transform.resolve()?, seed)?,
        alpha: Loader::shuffled(data.train.clone(), alpha_idx, batch, d.eval_transform.resolve()?, seed)?,
        eval: Loader::in_order(
            data.train.clone(),
            eval_idx,
            cfg.run.eval_batch_size,
            d.eval_transform.resolve()?,
            seed,
        )?,
    })
}

/// Mean loss and accuracy (%) of the supernet in evaluation mode.
pub fn evaluate_supernet(net: &dyn ImageSupernet, loader: &Loader, device: Device) -> (f64, f64) {
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
