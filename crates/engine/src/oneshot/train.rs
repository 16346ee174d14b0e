//! Training the single-path supernet: each step samples `paths_per_step` architectures uniformly
//! from the space and back-propagates through their paths only. Every `track.every` epochs a fixed
//! sample of architectures is scored and ranked against a ground truth, so the run shows how ranking
//! quality evolves with supernet training.

use super::score::{BnScoring, Scorer};
use super::{trainable_weights, SinglePathNet};
use crate::checkpoint;
use crate::progress::Progress;
use crate::run::{stream_seed, to_tensors, Prelude, Stream, RESET_NOTICE};
use crate::rundir::RunFiles;
use crate::search::architect::cross_entropy;
use crate::train::optim::{clip_grads, cosine_lr, Sgd, SgdConfig};
use crate::train::trainer::TrainError;
use oxnas_core::bench::Column;
use oxnas_core::config::{ConfigFile, DataConfig, SearchData, SupernetTrainConfig};
use oxnas_core::data::{split_by_portion, Loader};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::rank::GroundTruth;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// One epoch, one JSON line of `supernet.jsonl`. Image spaces log accuracy and images/s, the recurrent
/// space perplexity and tokens/s; `train_loss` is the mean cross-entropy (per image, per token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupernetEpoch {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_ppl: Option<f64>,
    /// Kendall τ-b and Spearman ρ of the tracked sample's scores against the ground-truth column.
    pub tau: Option<f64>,
    pub rho: Option<f64>,
    /// Mean accuracy of the tracked sample with inherited weights.
    pub tracked_mean_acc: Option<f64>,
    pub epoch_time_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
}

/// What a checkpoint records of the run besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct State {
    pub(super) epochs_done: usize,
    pub(super) history: Vec<SupernetEpoch>,
}

/// The supernet a config describes, on `device`, with weights initialised from the config's seed.
pub fn build(
    cfg: &SupernetTrainConfig,
    num_classes: i64,
    in_channels: i64,
    device: Device,
) -> Result<Box<dyn SinglePathNet>, oxnas_core::config::ConfigError> {
    super::build(&cfg.supernet, cfg.run.seed, num_classes, in_channels, device)
}

/// Loads a supernet run directory's weights into `net`.
///
/// `fill_missing_bn_stats`: a supernet trained without BN running statistics (the search presets, as
/// in DARTS/NB201 search code) has none in its checkpoint. Scoring with BN recalibration re-estimates
/// them per cell anyway, so `net` may be built with running statistics and keep its fresh buffers
/// where the checkpoint has none; every other missing tensor is still an error.
pub fn load_weights(path: &Path, net: &VarStore, fill_missing_bn_stats: bool) -> Result<(), TrainError> {
    let (tensors, _) = checkpoint::load(path)?;
    let mut w: BTreeMap<String, Tensor> =
        tensors.iter().filter_map(|(k, v)| k.strip_prefix("w.").map(|n| (n.to_string(), v.shallow_clone()))).collect();
    if fill_missing_bn_stats {
        for (name, t) in net.variables() {
            if (name.ends_with("running_mean") || name.ends_with("running_var")) && !w.contains_key(&name) {
                w.insert(name, t);
            }
        }
    }
    crate::nn::state_dict::import(net, &w)
        .map_err(|e| TrainError::Resume { dir: path.display().to_string(), why: e.to_string() })
}

/// The first `limit` held-out images (all of them when there are fewer) as device batches, for
/// scoring; the last batch is cut so that exactly `limit` images are used.
pub fn held_out_batches(loader: &Loader, limit: usize, device: Device) -> Vec<(Tensor, Tensor)> {
    let mut out = vec![];
    let mut seen = 0;
    for b in loader.epoch(0) {
        if seen >= limit {
            break;
        }
        let (x, y) = to_tensors(&b, device);
        let take = (limit - seen).min(b.batch);
        seen += take;
        out.push(if take < b.batch { (x.narrow(0, 0, take as i64), y.narrow(0, 0, take as i64)) } else { (x, y) });
    }
    out
}

/// The scorer for a supernet's held-out split: `eval_images` held-out images in fixed batches, and
/// for `BnScoring::Recalibrate` the first `recal_batches` batches of 64 shuffled training images.
#[allow(clippy::too_many_arguments)]
pub fn build_scorer(
    data: &crate::run::RunData,
    cfg: &oxnas_core::config::DataConfig,
    train_portion: f64,
    eval_batch: usize,
    seed: u64,
    (eval_images, bn, recal_batches): (usize, BnScoring, usize),
    device: Device,
) -> Result<Scorer, TrainError> {
    let (train_idx, held_idx) = split_by_portion(data.train.len(), train_portion);
    let held = Loader::in_order(data.train.clone(), held_idx, eval_batch, cfg.eval_transform.resolve()?, seed)?;
    let recal = if bn == BnScoring::Recalibrate {
        let l = Loader::shuffled(data.train.clone(), train_idx, 64, cfg.train_transform.resolve()?, seed)?;
        l.epoch(0).take(recal_batches).map(|b| to_tensors(&b, device).0).collect()
    } else {
        vec![]
    };
    Ok(Scorer::new(held_out_batches(&held, eval_images, device), recal, bn))
}

/// One path: uniform over the pool when there is one, else uniform over the space.
pub(super) fn draw_path(
    pool: Option<&[String]>,
    space: &dyn oxnas_core::oneshot::RankSpace,
    rng: &mut ChaCha8Rng,
) -> String {
    use rand::Rng;
    match pool {
        Some(pool) => pool[rng.random_range(0..pool.len())].clone(),
        None => space.sample(rng),
    }
}

pub struct SupernetTrainer {
    pub cfg: SupernetTrainConfig,
    pub files: RunFiles,
    /// The run directory belongs to this run until the trainer is dropped.
    _lock: oxnas_core::lock::Lock,
    resume: bool,
    /// On resume, continue with a fresh optimiser instead of refusing a checkpoint whose optimiser
    /// state is missing or incomplete (complete state is always loaded).
    pub reset_optimizer: bool,
    /// Sample paths only among these architectures (canonical strings), uniformly, instead of from
    /// the whole space: a pruned space's survivors, or one group of a few-shot split.
    pub pool: Option<Vec<String>>,
    /// Start from these weights (a checkpoint of a supernet of the same config) instead of a fresh
    /// initialisation; a resumed run continues from its own checkpoint instead.
    pub init: Option<std::path::PathBuf>,
}

impl SupernetTrainer {
    pub fn new(dir: &Path, cfg: Option<SupernetTrainConfig>) -> Result<Self, TrainError> {
        let files = RunFiles::supernet(dir);
        match cfg {
            Some(cfg) => {
                let _lock = crate::rundir::create(&files, &["checkpoints"], &cfg)?;
                Ok(SupernetTrainer { cfg, files, _lock, resume: false, reset_optimizer: false, pool: None, init: None })
            }
            None => {
                let (cfg, _lock) = crate::rundir::open(&files)?;
                Ok(SupernetTrainer { cfg, files, _lock, resume: true, reset_optimizer: false, pool: None, init: None })
            }
        }
    }

    pub fn run(&self, progress: &mut dyn Progress<SupernetEpoch>) -> Result<Vec<SupernetEpoch>, TrainError> {
        if let Some(pool) = self.pool.as_ref().filter(|p| p.is_empty()) {
            return Err(TrainError::Config(oxnas_core::config::ConfigError::Invalid(format!(
                "the supernet is to sample from a pool of {} architectures; give at least one",
                pool.len()
            ))));
        }
        match &self.cfg.data {
            SearchData::Images(data) => self.run_images(data, progress),
            SearchData::Text(data) => super::text::train(self, data, progress),
        }
    }

    /// The state to continue from: a fresh run (from `init`'s weights when given) or the run's own
    /// last checkpoint, whose weights and optimiser state go into `weights` and `opt`.
    pub(super) fn start_state(
        &self,
        weights: &VarStore,
        opt: &mut Sgd,
        progress: &mut dyn Progress<SupernetEpoch>,
    ) -> Result<State, TrainError> {
        if !self.resume {
            if let Some(init) = &self.init {
                load_weights(init, weights, false)?;
                progress.message(&format!("weights from {}", init.display()));
            }
            return Ok(State { epochs_done: 0, history: vec![] });
        }
        let last = self.files.last();
        if !last.exists() {
            return Err(TrainError::Resume {
                dir: self.files.dir.display().to_string(),
                why: "no checkpoint yet; start again without --resume".into(),
            });
        }
        let (tensors, meta) = checkpoint::load(&last)?;
        load_weights(&last, weights, false)?;
        match checkpoint::optimizer_state(&last, &tensors, &meta, self.reset_optimizer)? {
            checkpoint::OptimizerState::Load => opt.load_state(&tensors),
            checkpoint::OptimizerState::Reset => progress.message(RESET_NOTICE),
        }
        let state: State = checkpoint::state(&last, &meta, "oxnas.supernet_state", "supernet")?;
        progress.message(&format!("resumed after epoch {}", state.epochs_done));
        Ok(state)
    }

    /// The error for a non-finite training loss, naming the checkpoint that is kept.
    pub(super) fn diverged(&self, state: &State, value: f64, epoch: usize, step: usize) -> TrainError {
        let kept = match state.epochs_done {
            0 => "No epoch had completed, so there is no checkpoint.".to_string(),
            n => format!("The last good checkpoint (epoch {n}) is kept in {}.", self.files.last().display()),
        };
        let what = format!("the training loss became {value} at epoch {}, step {}", epoch + 1, step + 1);
        TrainError::Diverged { what, kept }
    }

    /// Records a finished epoch: the log and the checkpoint (weights, optimiser, state) atomically,
    /// then the progress report; an interruption stops the run here, after the save.
    pub(super) fn finish_epoch(
        &self,
        state: &mut State,
        m: SupernetEpoch,
        weights: &VarStore,
        opt: &Sgd,
        progress: &mut dyn Progress<SupernetEpoch>,
    ) -> Result<(), TrainError> {
        let epoch = m.epoch;
        state.history.push(m.clone());
        state.epochs_done = epoch + 1;
        let lines: String = state.history.iter().map(|m| serde_json::to_string(m).expect("json") + "\n").collect();
        write_atomic(&self.files.log(), lines.as_bytes())
            .map_err(|e| TrainError::Io { path: self.files.log().display().to_string(), source: e })?;
        let mut tensors: Vec<(String, Tensor)> =
            weights.variables().into_iter().map(|(k, v)| (format!("w.{k}"), v)).collect();
        let opt_state = opt.state();
        let mut meta = BTreeMap::new();
        checkpoint::record_optimizer_keys(&mut meta, opt_state.keys());
        tensors.extend(opt_state);
        meta.insert("oxnas.supernet_state".to_string(), serde_json::to_string(&state).expect("json"));
        meta.insert("oxnas.config".to_string(), self.cfg.to_toml());
        checkpoint::save(&self.files.last(), &tensors, &meta)?;
        progress.epoch_end(&m);
        if epoch + 1 < self.cfg.optim.epochs && progress.interrupted() {
            return Err(TrainError::Interrupted { epoch });
        }
        Ok(())
    }

    fn run_images(
        &self,
        data_cfg: &DataConfig,
        progress: &mut dyn Progress<SupernetEpoch>,
    ) -> Result<Vec<SupernetEpoch>, TrainError> {
        let cfg = &self.cfg;
        let split = cfg.split.as_ref().ok_or_else(|| {
            TrainError::Config(oxnas_core::config::ConfigError::Invalid("image data needs [split]".into()))
        })?;
        let Prelude { device, data } = Prelude::start(&cfg.run, data_cfg)?;
        let (train_idx, held_idx) = split_by_portion(data.train.len(), split.train_portion);
        progress.message(&format!(
            "data: {} from {} ({} train, {} held out)",
            data.kind,
            data.source,
            train_idx.len(),
            held_idx.len()
        ));
        let mut net = build(cfg, data.kind.num_classes() as i64, data.train.channels as i64, device)?;
        let space = cfg.supernet.rank_space()?;
        let o = &cfg.optim;
        let mut opt = Sgd::new(
            SgdConfig { lr: o.lr, momentum: o.momentum, weight_decay: o.weight_decay, nesterov: o.nesterov },
            trainable_weights(net.as_ref()),
        );
        let loader = Loader::shuffled(
            data.train.clone(),
            train_idx,
            o.batch_size,
            data_cfg.train_transform.resolve()?,
            cfg.run.seed,
        )?;
        let held = Loader::in_order(
            data.train.clone(),
            held_idx,
            cfg.run.eval_batch_size,
            data_cfg.eval_transform.resolve()?,
            cfg.run.seed,
        )?;
        let tracking = Tracking::new(cfg, space.as_ref(), &held, device)?;
        let mut state = self.start_state(net.weights(), &mut opt, progress)?;
        for epoch in state.epochs_done..o.epochs {
            let lr = cosine_lr(o.lr, o.lr_min, epoch, o.epochs);
            let started = Instant::now();
            let sums =
                self.image_epoch((net.as_mut(), device), space.as_ref(), &mut opt, &loader, (epoch, lr), &state)?;
            let train_time = started.elapsed().as_secs_f64();
            let paths = cfg.supernet.paths_per_step();
            let tracked = match &tracking {
                Some(t) if (epoch + 1) % cfg.track.every == 0 || epoch + 1 == o.epochs => Some(t.rank(net.as_mut())?),
                _ => None,
            };
            let m = SupernetEpoch {
                epoch,
                lr,
                train_loss: sums.loss / sums.seen.max(1) as f64,
                train_acc: Some(100.0 * sums.correct as f64 / (sums.seen * paths).max(1) as f64),
                train_ppl: None,
                tau: tracked.and_then(|t| t.0),
                rho: tracked.and_then(|t| t.1),
                tracked_mean_acc: tracked.map(|t| t.2),
                epoch_time_s: started.elapsed().as_secs_f64(),
                images_per_s: Some((sums.seen * paths) as f64 / train_time.max(1e-9)),
                tokens_per_s: None,
            };
            self.finish_epoch(&mut state, m, net.weights(), &opt, progress)?;
        }
        Ok(state.history)
    }

    /// One epoch over the image batches: each step averages the gradients of `paths_per_step`
    /// sampled paths.
    fn image_epoch(
        &self,
        (net, device): (&mut dyn SinglePathNet, Device),
        space: &dyn oxnas_core::oneshot::RankSpace,
        opt: &mut Sgd,
        loader: &Loader,
        (epoch, lr): (usize, f64),
        state: &State,
    ) -> Result<EpochSums, TrainError> {
        let cfg = &self.cfg;
        let mut sums = EpochSums { loss: 0.0, correct: 0, seen: 0 };
        for (step, batch) in loader.epoch(epoch as u64).enumerate() {
            let (x, y) = to_tensors(&batch, device);
            let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.run.seed, epoch, step, Stream::PathSampling));
            let paths = cfg.supernet.paths_per_step();
            let mut grads: Vec<Option<Tensor>> = vec![];
            for _ in 0..paths {
                net.set_path(&draw_path(self.pool.as_deref(), space, &mut rng))?;
                let logits = net.forward_t(&x, true);
                let loss = cross_entropy(&logits, &y);
                let value = loss.double_value(&[]);
                if !value.is_finite() {
                    return Err(self.diverged(state, value, epoch, step));
                }
                // Gradients averaged over the sampled paths; a module none of them used stays None.
                let g = opt.grads(&(loss / paths as f64));
                grads =
                    if grads.is_empty() { g } else { grads.into_iter().zip(g).map(|(a, b)| add_grads(a, b)).collect() };
                sums.loss += value * batch.batch as f64 / paths as f64;
                sums.correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
            }
            if cfg.optim.grad_clip > 0.0 {
                clip_grads(&grads, cfg.optim.grad_clip);
            }
            opt.step_with(&grads, lr);
            sums.seen += batch.batch;
        }
        Ok(sums)
    }
}

fn add_grads(a: Option<Tensor>, b: Option<Tensor>) -> Option<Tensor> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

/// Running sums of an image epoch.
struct EpochSums {
    loss: f64,
    correct: i64,
    seen: usize,
}

/// The fixed sample of architectures scored and ranked against the truth after tracked epochs (a
/// sample fixed for the run, so τ across epochs compares like with like).
struct Tracking {
    archs: Vec<String>,
    truth: Vec<f64>,
    scorer: Scorer,
}

impl Tracking {
    fn new(
        cfg: &SupernetTrainConfig,
        space: &dyn oxnas_core::oneshot::RankSpace,
        held: &Loader,
        device: Device,
    ) -> Result<Option<Tracking>, TrainError> {
        let t = &cfg.track;
        if t.sample == 0 {
            return Ok(None);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.run.seed, 0, 0, Stream::TrackedSample));
        let archs = oxnas_core::oneshot::sample_n(space, &mut rng, t.sample);
        let col: Column = t
            .truth
            .parse()
            .map_err(|e| TrainError::Config(oxnas_core::config::ConfigError::Invalid(format!("track.truth: {e}"))))?;
        let gt = GroundTruth::from_column(col);
        let truth = archs.iter().map(|a| gt.get(a).expect("the table covers every NB201 cell")).collect();
        let scorer = Scorer::new(held_out_batches(held, t.eval_images, device), vec![], BnScoring::Train);
        Ok(Some(Tracking { archs, truth, scorer }))
    }

    /// τ, ρ and the mean accuracy of the tracked sample with the current weights.
    fn rank(&self, net: &mut dyn SinglePathNet) -> Result<(Option<f64>, Option<f64>, f64), TrainError> {
        let scores: Vec<f64> = self.scorer.score_all(net, &self.archs, |_| {})?.iter().map(|s| s.score).collect();
        let tau = oxnas_core::rank::stats::kendall_tau_b(&scores, &self.truth).ok();
        let rho = oxnas_core::rank::stats::spearman_rho(&scores, &self.truth).ok();
        Ok((tau, rho, scores.iter().sum::<f64>() / scores.len() as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oneshot::nb201_cells;
    use crate::progress::Quiet;
    use crate::search::Nb201Supernet;

    fn tiny() -> SupernetTrainConfig {
        let sets: Vec<String> = [
            "supernet.channels=2",
            "data.train_limit=256",
            "optim.epochs=2",
            "optim.batch_size=32",
            "track.sample=6",
            "track.every=1",
            "track.eval_images=64",
            "run.device=\"cpu\"",
            "run.threads=1",
            "run.eval_batch_size=32",
            "data.train_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
            "data.eval_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        SupernetTrainConfig::resolve("cpu-nb201", None, &sets).unwrap()
    }

    use crate::oneshot::test_support::{strip, StopAfterFirst};

    #[test]
    fn a_pool_restricts_the_sampled_paths_uniformly() {
        let space = oxnas_core::oneshot::Nb201RankSpace::default();
        let pool: Vec<String> = nb201_cells().into_iter().step_by(5000).collect();
        assert_eq!(pool.len(), 4);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut counts = BTreeMap::new();
        for _ in 0..4000 {
            *counts.entry(draw_path(Some(&pool), &space, &mut rng)).or_insert(0) += 1;
        }
        assert_eq!(counts.keys().cloned().collect::<Vec<_>>(), {
            let mut p = pool.clone();
            p.sort();
            p
        });
        // Each of 4 with probability 1/4: 1000 ± 5 standard deviations (27).
        assert!(counts.values().all(|&c| (865..=1135).contains(&c)), "{counts:?}");
        // Without a pool, the whole space: far more than 4 distinct cells.
        let free: std::collections::BTreeSet<String> = (0..100).map(|_| draw_path(None, &space, &mut rng)).collect();
        assert!(free.len() > 90);
    }

    /// `--eval-images 10` scores on 10 images, not on the whole first batch of 64.
    #[test]
    fn held_out_batches_honour_the_image_count() {
        let images: Vec<u8> = (0..100 * 4).map(|i| i as u8).collect();
        let data = oxnas_core::data::ImageDataset::new("t", images, vec![0; 100], 1, 2, 2, 10).unwrap();
        let transform = oxnas_core::data::Transform::new(vec![oxnas_core::data::Augment::ToFloat]);
        let loader = Loader::in_order(std::sync::Arc::new(data), (0..100).collect(), 64, transform, 0).unwrap();
        let count = |limit| -> Vec<i64> {
            held_out_batches(&loader, limit, Device::Cpu)
                .iter()
                .map(|(x, y)| {
                    assert_eq!(x.size()[0], y.size()[0]);
                    y.size()[0]
                })
                .collect()
        };
        assert_eq!(count(10), vec![10]);
        assert_eq!(count(64), vec![64]);
        assert_eq!(count(70), vec![64, 6]);
        assert_eq!(count(1000), vec![64, 36], "all there are");
    }

    #[test]
    fn trains_tracks_tau_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let full = SupernetTrainer::new(&dir.path().join("a"), Some(tiny())).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(full.len(), 2);
        assert!(full.iter().all(|e| e.tau.is_some_and(|t| (-1.0..=1.0).contains(&t))));
        let cut = dir.path().join("b");
        let err = SupernetTrainer::new(&cut, Some(tiny())).unwrap().run(&mut StopAfterFirst).unwrap_err();
        assert!(matches!(err, TrainError::Interrupted { epoch: 0 }), "{err}");
        let resumed = SupernetTrainer::new(&cut, None).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(strip(&resumed), strip(&full));
    }

    /// A checkpoint without BN running statistics loads into a net that has them only when asked to,
    /// and then every stored tensor arrives unchanged while the buffers keep their fresh values.
    #[test]
    fn missing_bn_statistics_are_filled_only_on_request() {
        tch::manual_seed(3);
        let cfg = crate::oneshot::tiny_config;
        let trained = Nb201Supernet::new(&cfg(false), Device::Cpu);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let tensors: Vec<(String, Tensor)> =
            trained.weights().variables().into_iter().map(|(k, v)| (format!("w.{k}"), v)).collect();
        checkpoint::save(&path, &tensors, &BTreeMap::new()).unwrap();

        let net = Nb201Supernet::new(&cfg(true), Device::Cpu);
        let err = load_weights(&path, net.weights(), false).unwrap_err().to_string();
        assert!(err.contains("running_mean"), "{err}");
        load_weights(&path, net.weights(), true).unwrap();
        let loaded = net.weights().variables();
        for (name, t) in trained.weights().variables() {
            assert!(loaded[&name].equal(&t), "{name} changed on load");
        }
        let buffers: Vec<_> = loaded.keys().filter(|k| k.ends_with("running_var")).collect();
        assert!(!buffers.is_empty());
        for name in buffers {
            assert!(loaded[name].equal(&Tensor::ones_like(&loaded[name])), "{name} is not a fresh buffer");
        }
        // A missing weight is still an error, filled statistics or not.
        let fewer: Vec<(String, Tensor)> =
            tensors.into_iter().filter(|(k, _)| !k.ends_with("classifier.weight")).collect();
        checkpoint::save(&path, &fewer, &BTreeMap::new()).unwrap();
        assert!(load_weights(&path, net.weights(), true).is_err());
    }

    #[test]
    fn scoring_modes_are_repeatable_and_leave_the_supernet_unchanged() {
        tch::manual_seed(1);
        let cfg = crate::oneshot::tiny_config(true);
        let mut net = Nb201Supernet::new(&cfg, Device::Cpu);
        let x = Tensor::randn([16, 1, 12, 12], (Kind::Float, Device::Cpu));
        let y = Tensor::randint(10, [16], (Kind::Int64, Device::Cpu));
        // Give the running statistics some non-default values, as training would.
        for _ in 0..3 {
            let _ = net.forward_t(&(&x * 2.0 + 1.0), true);
        }
        // variables() is a HashMap: compare by name, not by iteration order.
        let snapshot = |net: &Nb201Supernet| -> BTreeMap<String, Tensor> {
            net.weights().variables().into_iter().map(|(k, t)| (k, t.copy())).collect()
        };
        let before = snapshot(&net);
        let cells: Vec<String> = nb201_cells().into_iter().step_by(3000).collect();
        let recal = [x.narrow(0, 0, 8), x.narrow(0, 8, 8)];
        let mut results = vec![];
        for bn in [BnScoring::Train, BnScoring::Running, BnScoring::Recalibrate] {
            let scorer = Scorer::new(
                vec![(x.shallow_clone(), y.shallow_clone())],
                recal.iter().map(|t| t.shallow_clone()).collect(),
                bn,
            );
            let a = scorer.score_all(&mut net, &cells, |_| {}).unwrap();
            let b = scorer.score_all(&mut net, &cells, |_| {}).unwrap();
            assert_eq!(a, b, "{bn:?} scoring is not repeatable");
            results.push(a);
        }
        assert_ne!(results[0], results[1], "running statistics from training differ from batch statistics");
        assert_ne!(results[1], results[2], "recalibration re-estimates the statistics");
        for (name, a) in snapshot(&net) {
            assert!(before[&name].equal(&a), "scoring changed {name}");
        }
    }
}
