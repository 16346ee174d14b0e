//! What the bilevel loop trains on, per kind of supernet. The loop (search_loop.rs) knows epochs,
//! policies and checkpoints; a [`Workload`] knows its data, how a batch becomes a loss, and what it
//! reports. Image supernets ([`super::image_workload`]) read labelled images; the recurrent supernet
//! ([`super::text_workload`]) reads a token stream whose hidden state runs from window to window.

use super::architect::Architect;
use super::hessian::HessianProbe;
use super::record::LambdaCheck;
use super::state::EdgeVector;
use super::{EdgeState, SearchEpoch, SearchError, Supernet};
use crate::progress::Progress;
use crate::train::optim::{clip_grads, AdamConfig, Sgd, SgdConfig};
use oxnas_core::config::{EigenMethod, SearchConfig};
use tch::{Device, Tensor};

/// The supernet and its two optimisers.
pub struct Trainee<N: ?Sized> {
    pub net: Box<N>,
    pub w_opt: Sgd,
    pub architect: Architect,
    /// False while the policy keeps α frozen (a weights-only warm-up): the α steps are skipped.
    pub train_alpha: bool,
}

impl<N: Supernet + ?Sized> Trainee<N> {
    /// SGD on w and Adam on α as `cfg` sets them.
    pub fn new(cfg: &SearchConfig, net: Box<N>, unrolled_clip: Option<f64>) -> Self {
        let o = &cfg.optim;
        let sgd = SgdConfig { lr: o.lr, momentum: o.momentum, weight_decay: o.weight_decay, nesterov: o.nesterov };
        let w_opt = Sgd::new(sgd, net.trainable_weights());
        let a = &cfg.arch;
        let adam = AdamConfig { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: 1e-8, weight_decay: a.weight_decay };
        let rows: usize = net.arch().iter().map(|c| c.alphas.len()).sum();
        Trainee { architect: Architect::new(adam, rows, a.order, unrolled_clip), net, w_opt, train_alpha: true }
    }

    /// One SGD step on w from `loss`, its gradients clipped to `clip` (0: no clipping).
    pub fn weight_step(&mut self, loss: &Tensor, clip: f64, lr: f64) {
        let grads = self.w_opt.grads(loss);
        if clip > 0.0 {
            clip_grads(&grads, clip);
        }
        self.w_opt.step_with(&grads, lr);
    }

    /// λmax of `loss` w.r.t. the undecided α (Lanczos started near `warm` when given); `None` when
    /// every α is decided.
    pub fn lambda_max(
        &self,
        probe: &HessianProbe,
        (method, seed): (EigenMethod, u64),
        warm: Option<&EdgeVector>,
        loss: &mut dyn FnMut() -> Tensor,
    ) -> Result<Option<LambdaProbe>, SearchError> {
        let alphas = self.net.trainable_alphas();
        if alphas.is_empty() {
            return Ok(None);
        }
        let edges = self.mixed_edges();
        let start = warm.map(|w| w.on(&edges, &alphas));
        let report = probe.lambda_max_from(loss, &alphas, method, seed, start.as_deref())?;
        let vector = (!report.vector.is_empty()).then(|| EdgeVector::of(&edges, &alphas, &report.vector));
        Ok(Some(LambdaProbe {
            lambda: report.lambda_max,
            seconds: report.seconds,
            hvps: report.hvps,
            vector,
            check: None,
        }))
    }

    /// The full Hessian's and a cold Lanczos's λmax of `loss`, for `hessian.check`.
    pub fn lambda_check(
        &self,
        probe: &HessianProbe,
        (method, seed): (EigenMethod, u64),
        loss: &mut dyn FnMut() -> Tensor,
    ) -> Result<LambdaCheck, SearchError> {
        let alphas = self.net.trainable_alphas();
        let full = probe.lambda_max(loss, &alphas, EigenMethod::Full, seed)?;
        let cold = probe.lambda_max(loss, &alphas, method, seed)?;
        Ok(LambdaCheck {
            full: full.lambda_max,
            full_s: full.seconds,
            full_hvps: full.hvps,
            cold: cold.lambda_max,
            cold_s: cold.seconds,
            cold_hvps: cold.hvps,
        })
    }

    /// (cell, edge) of every undecided edge, in the order of `trainable_alphas`.
    fn mixed_edges(&self) -> Vec<(usize, usize)> {
        let cells = self.net.arch().iter().enumerate();
        cells
            .flat_map(|(c, cell)| {
                cell.states.iter().enumerate().filter(|(_, s)| matches!(s, EdgeState::Mixed)).map(move |(e, _)| (c, e))
            })
            .collect()
    }
}

/// One λmax probe: the value, its time and Hessian-vector products, and (Lanczos) its eigenvector.
#[derive(Debug, Clone)]
pub struct LambdaProbe {
    pub lambda: f64,
    pub seconds: f64,
    pub hvps: usize,
    pub vector: Option<EdgeVector>,
    pub check: Option<LambdaCheck>,
}

impl EdgeVector {
    /// `flat` (over `alphas`, one per edge of `edges`) kept by edge.
    fn of(edges: &[(usize, usize)], alphas: &[Tensor], flat: &[f64]) -> EdgeVector {
        let mut at = 0;
        let edges = edges
            .iter()
            .zip(alphas)
            .map(|(&(c, e), a)| {
                let n = a.numel();
                at += n;
                (c, e, flat[at - n..at].to_vec())
            })
            .collect();
        EdgeVector { edges }
    }

    /// The vector over `edges` (flattened as `alphas`): this one's entries where it has the edge,
    /// zeros elsewhere.
    fn on(&self, edges: &[(usize, usize)], alphas: &[Tensor]) -> Vec<f64> {
        let known: std::collections::BTreeMap<(usize, usize), &Vec<f64>> =
            self.edges.iter().map(|(c, e, v)| ((*c, *e), v)).collect();
        edges
            .iter()
            .zip(alphas)
            .flat_map(|(k, a)| match known.get(k).filter(|v| v.len() == a.numel()) {
                Some(v) => v.to_vec(),
                None => vec![0.0; a.numel()],
            })
            .collect()
    }
}

/// Where an epoch stands: its number, the iteration that keys its random streams (so that an epoch
/// re-run after a rollback draws fresh batches), and the w learning rate.
#[derive(Debug, Clone, Copy)]
pub struct EpochAt {
    pub epoch: usize,
    pub iteration: usize,
    pub lr: f64,
}

/// What training one epoch measured. `accuracy` is a percentage for classifiers and `None` for a
/// language model, whose quality is its perplexity, exp(loss).
pub struct TrainedEpoch {
    pub loss: f64,
    pub accuracy: Option<f64>,
    /// Images or tokens trained on.
    pub seen: usize,
    pub seconds: f64,
}

/// The end-of-epoch validation pass.
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: Option<f64>,
}

/// One kind of supernet's data and losses.
pub trait Workload: Sized {
    type Net: Supernet + ?Sized;
    /// Whether the records count images (and accuracy) or tokens (and perplexity).
    const TEXT: bool;

    /// Picks the device and reads the data; the supernet is built afterwards, from a freshly seeded
    /// generator.
    fn load(cfg: &SearchConfig) -> Result<Self, SearchError>;
    fn device(&self) -> Device;
    /// The supernet, its parameters from libtorch's (seeded) generator.
    fn build(&self, cfg: &SearchConfig) -> Result<Box<Self::Net>, SearchError>;
    /// The clip norm of the unrolled (second-order) step, if the reference clips there.
    fn unrolled_clip(_cfg: &SearchConfig) -> Option<f64> {
        None
    }
    /// Sets the w and α batch size (SGAS-es grows it at every decision); called before the first epoch.
    fn set_batch_size(&mut self, cfg: &SearchConfig, batch: usize) -> Result<(), SearchError>;
    /// One line saying what the search trains on.
    fn describe(&self) -> String;
    /// Steps in an epoch (an estimate where window lengths vary), for progress bars.
    fn steps_per_epoch(&self) -> usize;
    /// One epoch of bilevel steps.
    fn train_epoch(
        &mut self,
        t: &mut Trainee<Self::Net>,
        cfg: &SearchConfig,
        at: EpochAt,
        progress: &mut dyn Progress<SearchEpoch>,
    ) -> Result<TrainedEpoch, SearchError>;
    /// The validation pass of the supernet as it stands.
    fn evaluate(&self, net: &Self::Net) -> Evaluation;
    /// λmax of the validation loss w.r.t. α on the last α batch of the epoch just trained, by
    /// `method` (Lanczos seeded with `seed`, started near `warm` when given); with `check`, also by
    /// the full Hessian and a cold Lanczos on the same batch.
    fn lambda_max(
        &self,
        t: &Trainee<Self::Net>,
        probe: &HessianProbe,
        method: (EigenMethod, u64),
        warm_check: (Option<&EdgeVector>, bool),
    ) -> Result<Option<LambdaProbe>, SearchError>;
}

/// The error for a non-finite training loss, 1-based.
pub fn diverged_at(value: f64, epoch: usize, step: usize, what: &str) -> SearchError {
    let what = format!("the training loss became {value} at epoch {}, {what} {}", epoch + 1, step + 1);
    SearchError::Diverged { what, kept: String::new() }
}
