//! The retraining loop: train an architecture from scratch, evaluate every epoch, checkpoint every
//! epoch so that `--resume` after any interruption (kill -9 included) ends with the same weights and
//! metrics as an uninterrupted run.
//!
//! Exactness of resume rests on one rule: every random draw during training comes from a seeded
//! ChaCha stream keyed by (seed, epoch, step) — data order, augmentation, drop-path masks — so the
//! checkpoint only needs weights, BN statistics, momentum buffers and the epoch counter. libtorch's
//! own generator is used once, to initialise the weights.

use super::metrics::{EpochMetrics, EvalResult};
use super::model::Model;
use super::optim::{clip_grads, cosine_lr, Sgd, SgdConfig};
use crate::checkpoint::{self, CheckpointError, OptimizerState};
use crate::nn::DropPath;
use crate::progress::Progress;
use crate::run::Prelude;
use crate::rundir::{self, RunFiles};
use crate::EngineError;
use oxnas_core::config::{ConfigError, ConfigFile, TrainConfig};
use oxnas_core::data::{DataError, Loader};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::logits::Logits;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Arch(#[from] oxnas_core::oneshot::ArchError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Text(#[from] oxnas_core::text::TextError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// `what` became non-finite; `kept` says which checkpoint survives. Epochs and steps in both are 1-based.
    #[error("training diverged: {what}. {kept} Lower optim.lr, or set optim.grad_clip (e.g. 5)")]
    Diverged { what: String, kept: String },
    #[error("stopped after epoch {epoch}; continue with --resume")]
    Interrupted { epoch: usize },
    #[error("cannot resume from {dir}: {why}")]
    Resume { dir: String, why: String },
    #[error(transparent)]
    RunDir(#[from] crate::rundir::RunDirError),
    #[error(transparent)]
    Prune(#[from] oxnas_core::prune::PruneError),
    #[error(transparent)]
    Split(#[from] oxnas_core::prune::SplitError),
}

/// The divergence error, naming the checkpoint that survives it: the last completed epoch's
/// (`last_epoch`, 0-based), if any.
pub(crate) fn diverged(what: String, last_epoch: Option<usize>, files: &RunFiles) -> TrainError {
    let kept = match last_epoch {
        Some(e) => format!("The last good checkpoint (epoch {}) is kept in {}.", e + 1, files.last().display()),
        None => "No epoch had completed, so there is no checkpoint.".to_string(),
    };
    TrainError::Diverged { what, kept }
}

/// The last checkpoint of a run being resumed, or the error saying that it never finished an epoch.
pub(crate) fn load_last(files: &RunFiles) -> Result<checkpoint::Loaded, TrainError> {
    if !files.last().exists() {
        return Err(TrainError::Resume {
            dir: files.dir.display().to_string(),
            why: "no checkpoints/last.safetensors: the run never finished an epoch; start it again without --resume"
                .into(),
        });
    }
    Ok(checkpoint::load(&files.last())?)
}

/// Loads a checkpoint's `model.*` tensors into `vs` (every variable must be there, with its shape).
pub(crate) fn import_model_weights(
    vs: &tch::nn::VarStore,
    tensors: &BTreeMap<String, Tensor>,
    files: &RunFiles,
) -> Result<(), TrainError> {
    let weights: BTreeMap<String, Tensor> = tensors
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("model.").map(|n| (n.to_string(), v.shallow_clone())))
        .collect();
    crate::nn::state_dict::import(vs, &weights)
        .map_err(|e| TrainError::Resume { dir: files.dir.display().to_string(), why: e.to_string() })
}

/// Writes one JSON line per epoch record to the run's log, replacing it (a resumed run rewrites the
/// log from its checkpoint, so the two always agree).
pub(crate) fn write_log<T: serde::Serialize>(files: &RunFiles, history: &[T]) -> Result<(), TrainError> {
    let lines: String = history.iter().map(|m| serde_json::to_string(m).expect("json") + "\n").collect();
    write_atomic(&files.log(), lines.as_bytes()).map_err(io_err(&files.log()))
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.display().to_string(), source }
}

use crate::run::RESET_NOTICE;
use crate::run::{stream_seed, to_tensors, Stream};

/// Top-1/top-5 accuracy, mean loss and confusion matrix of `model` over `loader` in eval mode.
pub fn evaluate(model: &Model, loader: &Loader, num_classes: usize, device: Device) -> EvalResult {
    let mut confusion = vec![vec![0u64; num_classes]; num_classes];
    let (mut loss_sum, mut top1, mut top5, mut count) = (0.0, 0i64, 0i64, 0usize);
    tch::no_grad(|| {
        for batch in loader.epoch(0) {
            let (x, y) = to_tensors(&batch, device);
            let logits = model.predict(&x);
            loss_sum += logits.cross_entropy_for_logits(&y).double_value(&[]) * batch.batch as f64;
            let k = 5.min(num_classes as i64);
            let (_, topk) = logits.topk(k, 1, true, true);
            let hits = topk.eq_tensor(&y.unsqueeze(1));
            top1 += hits.narrow(1, 0, 1).sum(Kind::Int64).int64_value(&[]);
            top5 += hits.sum(Kind::Int64).int64_value(&[]);
            let pred = Vec::<i64>::try_from(topk.select(1, 0).to_device(Device::Cpu)).expect("predictions");
            for (&t, &p) in batch.labels.iter().zip(&pred) {
                confusion[t as usize][p as usize] += 1;
            }
            count += batch.batch;
        }
    });
    let n = count.max(1) as f64;
    EvalResult { loss: loss_sum / n, top1: 100.0 * top1 as f64 / n, top5: 100.0 * top5 as f64 / n, count, confusion }
}

/// Every image's logits in loader order (evaluation mode), with its label.
pub fn predict_logits(model: &Model, loader: &Loader, num_classes: usize, device: Device) -> Logits {
    let (mut values, mut labels) = (vec![], vec![]);
    tch::no_grad(|| {
        for batch in loader.epoch(0) {
            let (x, _) = to_tensors(&batch, device);
            let logits = model.predict(&x).to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1);
            values.extend(Vec::<f32>::try_from(&logits).expect("logits are float"));
            labels.extend_from_slice(&batch.labels);
        }
    });
    Logits { classes: num_classes, values, labels }
}

/// Run state stored in the checkpoint header beside the tensors.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct RunState {
    /// Epochs completed (the next epoch to run).
    epochs_done: usize,
    steps: i64,
    best_acc: f64,
    best_epoch: Option<usize>,
    history: Vec<EpochMetrics>,
}

pub struct TrainSummary {
    pub history: Vec<EpochMetrics>,
    pub final_eval: EvalResult,
    pub best_acc: f64,
    pub best_epoch: Option<usize>,
    pub params: i64,
    pub device: Device,
    pub source: String,
}

/// How a run starts: a fresh directory, or continuing the run already in it.
pub enum Start<C = TrainConfig> {
    Fresh(Box<C>),
    Resume,
}

pub struct Trainer {
    pub cfg: TrainConfig,
    pub files: RunFiles,
    /// The run directory belongs to this run until the trainer is dropped.
    _lock: oxnas_core::lock::Lock,
    resume: bool,
    /// On resume, continue with a fresh optimiser instead of refusing a checkpoint whose optimiser
    /// state is missing or incomplete (complete state is always loaded).
    pub reset_optimizer: bool,
}

impl Trainer {
    pub fn new(dir: &Path, start: Start) -> Result<Self, TrainError> {
        let files = RunFiles::train(dir);
        match start {
            Start::Fresh(cfg) => {
                let _lock = rundir::create(&files, &["checkpoints"], cfg.as_ref())?;
                Ok(Trainer { cfg: *cfg, files, _lock, resume: false, reset_optimizer: false })
            }
            Start::Resume => {
                let (cfg, _lock) = rundir::open(&files)?;
                Ok(Trainer { cfg, files, _lock, resume: true, reset_optimizer: false })
            }
        }
    }

    pub fn run(&self, progress: &mut dyn Progress<EpochMetrics>) -> Result<TrainSummary, TrainError> {
        let cfg = &self.cfg;
        let Prelude { device, data } = Prelude::start(&cfg.run, &cfg.data)?;
        progress.message(&format!(
            "data: {} from {} ({} train / {} test images)",
            data.kind,
            data.source,
            data.train.len(),
            data.test.len()
        ));
        let num_classes = data.kind.num_classes();
        let model = Model::build(&cfg.model, num_classes as i64, data.train.channels as i64, device, cfg.run.seed)?;
        write_atomic(&self.files.arch_txt(), format!("{}\n", model.arch.reference_string()).as_bytes())
            .map_err(io_err(&self.files.arch_txt()))?;
        let arch_json = serde_json::to_string_pretty(&model.arch.to_json()).expect("json");
        write_atomic(&self.files.arch_json(), arch_json.as_bytes()).map_err(io_err(&self.files.arch_json()))?;

        let all: Vec<usize> = (0..data.train.len()).collect();
        let train_loader = Loader::shuffled(
            data.train.clone(),
            all,
            cfg.optim.batch_size,
            cfg.data.train_transform.resolve()?,
            cfg.run.seed,
        )?;
        let test_loader = Loader::in_order(
            data.test.clone(),
            (0..data.test.len()).collect(),
            cfg.run.eval_batch_size,
            cfg.data.eval_transform.resolve()?,
            cfg.run.seed,
        )?;

        let mut params: Vec<(String, Tensor)> =
            model.vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let o = &cfg.optim;
        let mut opt = Sgd::new(
            SgdConfig { lr: o.lr, momentum: o.momentum, weight_decay: o.weight_decay, nesterov: o.nesterov },
            params,
        );

        let mut state =
            RunState { epochs_done: 0, steps: 0, best_acc: f64::NEG_INFINITY, best_epoch: None, history: vec![] };
        if self.resume {
            state = self.restore(&model, &mut opt, progress)?;
            progress.message(&format!("resumed after epoch {} of {}", state.epochs_done, o.epochs));
        }

        let aux_weight = cfg.model.auxiliary_weight;
        for epoch in state.epochs_done..o.epochs {
            // The reference steps its scheduler before each epoch under PyTorch 0.3 semantics, so epoch e
            // trains at the cosine value of e (epoch 0 at the full lr).
            let lr = cosine_lr(o.lr, o.lr_min, epoch, o.epochs);
            let drop_prob = cfg.model.drop_path * epoch as f64 / o.epochs as f64;
            let started = Instant::now();
            progress.epoch_start(epoch, o.epochs, train_loader.num_batches());
            let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
            for (step, batch) in train_loader.epoch(epoch as u64).enumerate() {
                let (x, y) = to_tensors(&batch, device);
                let drop = DropPath::new(drop_prob, stream_seed(cfg.run.seed, epoch, step, Stream::DropPath));
                let (logits, aux) = model.forward_train(&x, &drop);
                let main = logits.cross_entropy_for_logits(&y);
                let loss = match aux {
                    Some(aux) => main + aux.cross_entropy_for_logits(&y) * aux_weight,
                    None => main,
                };
                let value = loss.double_value(&[]);
                if !value.is_finite() {
                    let what = format!("the training loss became {value} at epoch {}, step {}", epoch + 1, step + 1);
                    return Err(self.diverged(what, &state));
                }
                let grads = opt.grads(&loss);
                if o.grad_clip > 0.0 {
                    clip_grads(&grads, o.grad_clip);
                }
                opt.step_with(&grads, lr);
                state.steps += 1;
                loss_sum += value * batch.batch as f64;
                correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
                seen += batch.batch;
                progress.batch(step + 1, value);
            }
            let train_time = started.elapsed().as_secs_f64();
            let eval = evaluate(&model, &test_loader, num_classes, device);
            self.check_eval(&eval, epoch, &state)?;
            let m = EpochMetrics {
                epoch,
                lr,
                drop_path: drop_prob,
                train_loss: loss_sum / seen as f64,
                train_acc: 100.0 * correct as f64 / seen as f64,
                test_loss: eval.loss,
                test_acc: eval.top1,
                test_top5: eval.top5,
                epoch_time_s: started.elapsed().as_secs_f64(),
                images_per_s: seen as f64 / train_time,
            };
            state.history.push(m.clone());
            state.epochs_done = epoch + 1;
            let improved = m.test_acc > state.best_acc;
            if improved {
                state.best_acc = m.test_acc;
                state.best_epoch = Some(epoch);
            }
            self.checkpoint(&model, &opt, &state, improved)?;
            progress.epoch_end(&m);
            if progress.interrupted() {
                return Err(TrainError::Interrupted { epoch });
            }
        }

        let final_eval = evaluate(&model, &test_loader, num_classes, device);
        let summary = TrainSummary {
            history: state.history.clone(),
            final_eval,
            best_acc: state.best_acc,
            best_epoch: state.best_epoch,
            params: model.num_params(),
            device,
            source: data.source.to_string(),
        };
        self.write_summary(&summary, &model)?;
        Ok(summary)
    }

    /// A non-finite test loss is divergence too: at a huge learning rate the training loss can stay
    /// finite while BN running statistics overflow, and the run would end "successfully" with a null loss.
    fn check_eval(&self, eval: &EvalResult, epoch: usize, state: &RunState) -> Result<(), TrainError> {
        if eval.loss.is_finite() {
            return Ok(());
        }
        Err(self.diverged(format!("the test loss became {} at epoch {}", eval.loss, epoch + 1), state))
    }

    fn diverged(&self, what: String, state: &RunState) -> TrainError {
        diverged(what, state.history.last().map(|m| m.epoch), &self.files)
    }

    fn checkpoint(&self, model: &Model, opt: &Sgd, state: &RunState, best: bool) -> Result<(), TrainError> {
        let mut tensors: Vec<(String, Tensor)> =
            model.vs.variables().into_iter().map(|(k, v)| (format!("model.{k}"), v)).collect();
        let opt_state = opt.state();
        let mut meta = BTreeMap::new();
        checkpoint::record_optimizer_keys(&mut meta, opt_state.keys());
        tensors.extend(opt_state);
        meta.insert("oxnas.run_state".to_string(), serde_json::to_string(state).expect("state json"));
        meta.insert("oxnas.config".to_string(), self.cfg.to_toml());
        meta.insert("oxnas.arch".to_string(), model.arch.reference_string());
        // Metrics first, checkpoint second: after a crash between the two, resume rewrites the metrics
        // file from the checkpoint's history, so both always agree once a run continues.
        write_log(&self.files, &state.history)?;
        checkpoint::save(&self.files.last(), &tensors, &meta)?;
        if best {
            checkpoint::save(&self.files.best(), &tensors, &meta)?;
        }
        Ok(())
    }

    fn restore(
        &self,
        model: &Model,
        opt: &mut Sgd,
        progress: &mut dyn Progress<EpochMetrics>,
    ) -> Result<RunState, TrainError> {
        let (tensors, meta) = load_last(&self.files)?;
        let last = self.files.last();
        let state: RunState = checkpoint::state(&last, &meta, "oxnas.run_state", "training run")?;
        import_model_weights(&model.vs, &tensors, &self.files)?;
        match checkpoint::optimizer_state(&last, &tensors, &meta, self.reset_optimizer)? {
            OptimizerState::Load => opt.load_state(&tensors),
            OptimizerState::Reset => progress.message(RESET_NOTICE),
        }
        write_log(&self.files, &state.history)?;
        Ok(state)
    }

    fn write_summary(&self, s: &TrainSummary, model: &Model) -> Result<(), TrainError> {
        let json = serde_json::json!({
            "arch": model.arch.reference_string(),
            "params": s.params,
            "epochs": s.history.len(),
            "final": { "test_acc": s.final_eval.top1, "test_top5": s.final_eval.top5, "test_loss": s.final_eval.loss, "count": s.final_eval.count },
            "best": { "test_acc": s.best_acc, "epoch": s.best_epoch },
            "per_class_acc": s.final_eval.per_class_accuracy(),
            "device": format!("{:?}", s.device),
            "data_source": s.source,
            "seed": self.cfg.run.seed,
        });
        let text = serde_json::to_string_pretty(&json).expect("json");
        write_atomic(&self.files.summary(), text.as_bytes()).map_err(io_err(&self.files.summary()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    fn tiny(epochs: usize) -> TrainConfig {
        let sets: Vec<String> = [
            "model.channels=4",
            "data.train_limit=256",
            "data.test_limit=128",
            "optim.batch_size=64",
            "run.device=\"cpu\"",
            "run.eval_batch_size=64",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!("optim.epochs={epochs}")])
        .collect();
        TrainConfig::resolve("cpu-smoke", None, &sets).unwrap()
    }

    fn strip_times(h: &[EpochMetrics]) -> Vec<EpochMetrics> {
        h.iter().map(|m| EpochMetrics { epoch_time_s: 0.0, images_per_s: 0.0, ..m.clone() }).collect()
    }

    struct StopAfter(usize, usize);
    impl Progress<EpochMetrics> for StopAfter {
        fn epoch_end(&mut self, _m: &EpochMetrics) {
            self.1 += 1;
        }
        fn interrupted(&mut self) -> bool {
            self.1 >= self.0
        }
    }

    #[test]
    fn same_seed_same_metrics_and_resume_is_exact() {
        let dir = tempfile::tempdir().unwrap();
        let full =
            Trainer::new(&dir.path().join("full"), Start::Fresh(Box::new(tiny(2)))).unwrap().run(&mut Quiet).unwrap();
        let again =
            Trainer::new(&dir.path().join("again"), Start::Fresh(Box::new(tiny(2)))).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(strip_times(&full.history), strip_times(&again.history), "same seed, different metrics");
        assert!(full.history[1].train_loss < full.history[0].train_loss || full.history[1].test_acc > 10.0);

        let cut = dir.path().join("cut");
        let err = Trainer::new(&cut, Start::Fresh(Box::new(tiny(2)))).unwrap().run(&mut StopAfter(1, 0)).err().unwrap();
        assert!(matches!(err, TrainError::Interrupted { epoch: 0 }), "{err}");
        let resumed = Trainer::new(&cut, Start::Resume).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(
            strip_times(&resumed.history),
            strip_times(&full.history),
            "resume diverged from the uninterrupted run"
        );
        assert_eq!(resumed.final_eval, full.final_eval);
        let a = checkpoint::load(&RunFiles::train(&dir.path().join("full")).last()).unwrap().0;
        let b = checkpoint::load(&RunFiles::train(&cut).last()).unwrap().0;
        assert_eq!(a.len(), b.len());
        for (k, t) in &a {
            assert!(t.equal(&b[k]), "tensor {k} differs after resume");
        }
        let lines = std::fs::read_to_string(RunFiles::train(&cut).log()).unwrap();
        assert_eq!(lines.lines().count(), 2);
    }

    #[test]
    fn fresh_start_refuses_an_existing_run_and_resume_needs_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = Trainer::new(dir.path(), Start::Resume).err().unwrap().to_string();
        assert!(err.contains("config.toml"), "{err}");
        Trainer::new(dir.path(), Start::Fresh(Box::new(tiny(1)))).unwrap().run(&mut Quiet).unwrap();
        let err = Trainer::new(dir.path(), Start::Fresh(Box::new(tiny(1)))).err().unwrap().to_string();
        assert!(err.contains("--resume"), "{err}");
    }

    #[test]
    fn divergence_stops_with_a_clear_message() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = tiny(2);
        cfg.optim.lr = 1e12;
        cfg.optim.grad_clip = 0.0;
        let err = Trainer::new(dir.path(), Start::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).err().unwrap();
        let msg = err.to_string();
        assert!(matches!(err, TrainError::Diverged { .. }), "{msg}");
        assert!(msg.contains("optim.lr") && msg.contains("at epoch 1, step "), "{msg}");
        assert!(msg.contains("No epoch had completed"), "{msg}");
    }

    /// Epoch numbers in messages are 1-based, like "resumed after epoch 1 of 2": a run that trains
    /// epoch 1 and then diverges names epoch 2, and keeps epoch 1's checkpoint.
    #[test]
    fn divergence_names_epochs_from_one_and_the_kept_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let trainer = Trainer::new(dir.path(), Start::Fresh(Box::new(tiny(2)))).unwrap();
        let mut state = RunState { epochs_done: 1, steps: 4, best_acc: 0.0, best_epoch: Some(0), history: vec![] };
        state.history.push(EpochMetrics {
            epoch: 0,
            lr: 0.1,
            drop_path: 0.0,
            train_loss: 1.0,
            train_acc: 1.0,
            test_loss: 1.0,
            test_acc: 1.0,
            test_top5: 1.0,
            epoch_time_s: 0.0,
            images_per_s: 0.0,
        });
        let msg = trainer.diverged("the test loss became NaN at epoch 2".into(), &state).to_string();
        assert!(msg.contains("at epoch 2") && msg.contains("(epoch 1) is kept in"), "{msg}");
        assert!(msg.contains("last.safetensors") && msg.contains("optim.lr"), "{msg}");
    }

    /// At a huge learning rate the training loss can stay finite while the test loss does not (BN
    /// running statistics blow up): that is divergence too, not a run that ends with a null loss.
    #[test]
    fn a_non_finite_test_loss_is_divergence() {
        let dir = tempfile::tempdir().unwrap();
        let trainer = Trainer::new(dir.path(), Start::Fresh(Box::new(tiny(2)))).unwrap();
        let state = RunState { epochs_done: 0, steps: 0, best_acc: 0.0, best_epoch: None, history: vec![] };
        let eval = |loss: f64| EvalResult { loss, top1: 10.0, top5: 50.0, count: 1, confusion: vec![] };
        assert!(trainer.check_eval(&eval(2.3), 0, &state).is_ok());
        for loss in [f64::NAN, f64::INFINITY] {
            let msg = trainer.check_eval(&eval(loss), 0, &state).unwrap_err().to_string();
            assert!(msg.contains("diverged: the test loss became") && msg.contains("at epoch 1"), "{msg}");
        }
    }
}
