//! The two steps that pruning rounds and few-shot groups are made of: train a supernet run on a
//! pool of architectures (from given weights), and score a list of architectures with a run's
//! checkpoint. Both continue where a killed process stopped.

use super::score::ImageScoring;
use super::score_run::{score_to_csv, ScoreRunError};
use super::train::{build_scorer, load_weights, SupernetEpoch, SupernetTrainer};
use crate::progress::Progress;
use crate::run::Prelude;
use crate::rundir::RunFiles;
use crate::train::trainer::TrainError;
use oxnas_core::config::{BnScoring, ConfigError, SupernetTrainConfig};
use oxnas_core::oneshot::RankSpace;
use oxnas_core::rank::ArchScores;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A supernet run inside an experiment's directory.
pub struct Stage {
    pub dir: PathBuf,
    pub cfg: SupernetTrainConfig,
    /// Architectures to sample paths from (`None`: the whole space).
    pub pool: Option<Vec<String>>,
    /// Weights to start from (`None`: a fresh initialisation from the config's seed).
    pub init: Option<PathBuf>,
}

impl Stage {
    /// The stage's checkpoint once it has trained.
    pub fn checkpoint(&self) -> PathBuf {
        RunFiles::supernet(&self.dir).last()
    }

    /// Trains the stage, or finishes it: a run with a checkpoint resumes; a run killed before its
    /// first checkpoint (at most a config on disk) starts afresh; a finished run returns at once.
    pub fn train(self, progress: &mut dyn Progress<SupernetEpoch>) -> Result<(), TrainError> {
        let mut trainer = if self.checkpoint().exists() {
            SupernetTrainer::new(&self.dir, None)?
        } else {
            if self.dir.exists() {
                std::fs::remove_dir_all(&self.dir)
                    .map_err(|source| TrainError::Io { path: self.dir.display().to_string(), source })?;
            }
            SupernetTrainer::new(&self.dir, Some(self.cfg))?
        };
        trainer.pool = self.pool;
        trainer.init = self.init;
        trainer.run(progress)?;
        Ok(())
    }
}

/// How architectures are scored.
#[derive(Debug, Clone, PartialEq)]
pub struct Scoring {
    pub eval_images: usize,
    pub bn: BnScoring,
    pub recal_batches: usize,
}

/// Why scoring stopped.
#[derive(Debug)]
pub enum ScoreStop {
    Interrupted,
    Failed(TrainError),
}

impl ScoreStop {
    /// As a training error of the experiment stage `what` (`epoch` for the interruption message).
    pub fn in_stage(self, what: &str, epoch: usize) -> TrainError {
        match self {
            ScoreStop::Interrupted => TrainError::Interrupted { epoch },
            ScoreStop::Failed(e) => TrainError::Config(ConfigError::Invalid(format!("{what}: {e}"))),
        }
    }
}

fn failed<E: Into<TrainError>>(e: E) -> ScoreStop {
    ScoreStop::Failed(e.into())
}

/// Scores `cells` with the checkpoint `ckpt` of a supernet configured as `cfg` into the scores CSV
/// `out` and returns the scores. A finished `out` is read back instead; an unfinished one resumes
/// from its partial file. `stop()` is polled between chunks.
pub fn score_into(
    ckpt: &Path,
    cfg: &SupernetTrainConfig,
    scoring: &Scoring,
    space: &dyn RankSpace,
    cells: &[String],
    out: &Path,
    stop: &mut dyn FnMut() -> bool,
) -> Result<BTreeMap<String, f64>, ScoreStop> {
    if !out.exists() {
        let data_cfg = cfg.data.images().map_err(failed)?;
        let split =
            cfg.split.as_ref().ok_or_else(|| failed(ConfigError::Invalid("image data needs [split]".into())))?;
        let Prelude { device, data } = Prelude::start(&cfg.run, data_cfg).map_err(failed)?;
        let fill = scoring.bn == BnScoring::Recalibrate && !cfg.supernet.track_running_stats();
        let supernet = if fill { cfg.supernet.clone().with_running_stats() } else { cfg.supernet.clone() };
        let kind = data_cfg.kind().map_err(failed)?;
        let net = super::build(&supernet, 0, kind.num_classes() as i64, kind.image_shape().0 as i64, device)
            .map_err(failed)?;
        load_weights(ckpt, net.weights(), fill).map_err(failed)?;
        let triple = (scoring.eval_images, scoring.bn, scoring.recal_batches);
        let scorer =
            build_scorer(&data, data_cfg, split.train_portion, cfg.run.eval_batch_size, cfg.run.seed, triple, device)
                .map_err(failed)?;
        let settings = serde_json::json!({
            "checkpoint": ckpt.display().to_string(),
            "bn": scoring.bn.name(),
            "eval_images": scoring.eval_images,
            "recal_batches": scoring.recal_batches,
        });
        match score_to_csv(&mut ImageScoring { scorer, net }, space, cells, out, &settings, 50, &mut |_, _| !stop()) {
            Ok(_) => {}
            Err(ScoreRunError::Interrupted { .. }) => return Err(ScoreStop::Interrupted),
            Err(e) => return Err(ScoreStop::Failed(TrainError::Config(ConfigError::Invalid(e.to_string())))),
        }
    }
    let table = ArchScores::read_csv(out, space)
        .map_err(|e| ScoreStop::Failed(TrainError::Config(ConfigError::Invalid(e.to_string()))))?;
    Ok(table.rows.into_iter().map(|r| (r.arch, r.score)).collect())
}

/// Passes a stage's supernet training messages and interruptions to an experiment's progress,
/// each epoch as one line labelled with the stage.
pub struct Nested<'a, E> {
    pub outer: &'a mut dyn Progress<E>,
    pub label: String,
}

impl<E> Progress<SupernetEpoch> for Nested<'_, E> {
    fn epoch_end(&mut self, e: &SupernetEpoch) {
        self.outer.message(&format!(
            "{} epoch {:>3}  loss {:.4}  acc {:6.2}%  {:.1}s",
            self.label,
            e.epoch + 1,
            e.train_loss,
            e.train_acc.unwrap_or(f64::NAN),
            e.epoch_time_s
        ));
    }
    fn message(&mut self, m: &str) {
        self.outer.message(m);
    }
    fn interrupted(&mut self) -> bool {
        self.outer.interrupted()
    }
}
