//! `oxnas supernet fewshot`: reduced weight sharing. The space is split into K groups by the
//! choices on a few slots (few-shot NAS, Zhao et al. 2021; the capacity study of "How Does
//! Supernet Help in NAS?"). A shared warm-up supernet trains on the whole space; each group's
//! sub-supernet starts from it and trains on its group only; every architecture is scored in its
//! own group's supernet. The K = 1 comparison continues the warm-up on the whole space for as many
//! steps as the K groups took together, so the two differ in sharing, not in training budget.
//!
//! Directory: `warmup/`, `group-NN/` (one supernet run per group, with `scores.csv`), `k1/`, then
//! `scores-k1.csv` and `scores-kK.csv` (rank them with `oxnas rank`) and `fewshot.json`.

use super::stage::{score_into, Nested, Scoring, Stage};
use crate::progress::Progress;
use crate::rundir::RunFiles;
use crate::train::trainer::TrainError;
use oxnas_core::config::{ConfigError, FewShotConfig};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::oneshot::RankSpace;
use oxnas_core::prune::split_by_slots;
use oxnas_core::rank::report::{RankOptions, RankReport};
use oxnas_core::rank::{join, ArchScores, TruthSource};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One finished stage of a few-shot run (a line of `fewshot.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// `warmup`, `k1`, or the group key (`1<-0=nor_conv_3x3`).
    pub stage: String,
    pub epochs: usize,
    /// Architectures the stage's supernet sampled from (0: the whole space).
    pub pool: usize,
    /// Architectures scored in it.
    pub scored: usize,
}

/// Ranking quality of one K against the run's truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KResult {
    pub k: usize,
    pub scores: String,
    pub report: RankReport,
}

pub struct FewShotRunner {
    pub cfg: FewShotConfig,
    pub files: RunFiles,
    _lock: oxnas_core::lock::Lock,
}

fn invalid(m: String) -> TrainError {
    TrainError::Config(ConfigError::Invalid(m))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.display().to_string(), source }
}

impl FewShotRunner {
    pub fn new(dir: &Path, cfg: Option<FewShotConfig>) -> Result<Self, TrainError> {
        let files = RunFiles::fewshot(dir);
        let (cfg, _lock) = match cfg {
            Some(cfg) => {
                let lock = crate::rundir::create(&files, &[], &cfg)?;
                (cfg, lock)
            }
            None => crate::rundir::open(&files)?,
        };
        Ok(FewShotRunner { cfg, files, _lock })
    }

    pub fn scores_csv(&self, k: usize) -> PathBuf {
        self.files.dir.join(format!("scores-k{k}.csv"))
    }

    fn stage(&self, name: &str, epochs: usize, pool: Option<Vec<String>>, init: Option<PathBuf>) -> Stage {
        Stage { dir: self.files.dir.join(name), cfg: self.cfg.supernet_config(epochs), pool, init }
    }

    fn log(&self, records: &mut Vec<StageRecord>, r: StageRecord) -> Result<(), TrainError> {
        records.retain(|o| o.stage != r.stage);
        records.push(r);
        let lines: String = records.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect();
        write_atomic(&self.files.log(), lines.as_bytes()).map_err(io(&self.files.log()))
    }

    /// Runs (or finishes) every stage, writes both score tables, and ranks them against the truth.
    pub fn run(&self, progress: &mut dyn Progress<StageRecord>) -> Result<Vec<KResult>, TrainError> {
        let f = &self.cfg.fewshot;
        let space = self.cfg.supernet.rank_space()?;
        let all = space.enumerate().ok_or_else(|| {
            invalid(format!(
                "few-shot groups are built from the list of all architectures, and the {} space is too large to list",
                space.name()
            ))
        })?;
        let groups = split_by_slots(&all, space.as_ref(), &f.split)?;
        let archs =
            space.resolve_list(&f.archs, self.cfg.run.seed).map_err(|e| invalid(format!("fewshot.archs: {e}")))?;
        let k = groups.len();
        let mut records = vec![];
        let scoring = Scoring { eval_images: f.eval_images, bn: f.bn, recal_batches: f.recal_batches };

        let warmup = self.stage("warmup", f.warmup_epochs, None, None);
        let warm = warmup.checkpoint();
        warmup.train(&mut Nested { outer: progress, label: "warm-up".into() })?;
        self.log(&mut records, StageRecord { stage: "warmup".into(), epochs: f.warmup_epochs, pool: 0, scored: 0 })?;

        let mut grouped: BTreeMap<String, f64> = BTreeMap::new();
        for (i, (key, members)) in groups.iter().enumerate() {
            let name = format!("group-{i:02}");
            let stage = self.stage(&name, self.cfg.optim.epochs, Some(members.clone()), Some(warm.clone()));
            let ckpt = stage.checkpoint();
            progress.message(&format!("group {}/{k} ({key}): {} architectures", i + 1, members.len()));
            stage.train(&mut Nested { outer: progress, label: format!("group {}", i + 1) })?;
            let in_group: std::collections::BTreeSet<&String> = members.iter().collect();
            let mine: Vec<String> = archs.iter().filter(|a| in_group.contains(a)).cloned().collect();
            let out = self.files.dir.join(&name).join("scores.csv");
            let cfg = self.cfg.supernet_config(0);
            let scores = score_into(&ckpt, &cfg, &scoring, space.as_ref(), &mine, &out, &mut || progress.interrupted())
                .map_err(|e| e.in_stage(&name, 0))?;
            grouped.extend(scores);
            let r = StageRecord {
                stage: key.clone(),
                epochs: self.cfg.optim.epochs,
                pool: members.len(),
                scored: mine.len(),
            };
            progress.epoch_end(&r);
            self.log(&mut records, r)?;
        }
        write_scores(space.as_ref(), &archs, &grouped, &self.scores_csv(k))?;

        let epochs = k * self.cfg.optim.epochs;
        let single = self.stage("k1", epochs, None, Some(warm));
        let ckpt = single.checkpoint();
        progress.message(&format!("K = 1: {epochs} more epochs on the whole space (the groups' total)"));
        single.train(&mut Nested { outer: progress, label: "K=1".into() })?;
        let cfg = self.cfg.supernet_config(0);
        let out = self.scores_csv(1);
        score_into(&ckpt, &cfg, &scoring, space.as_ref(), &archs, &out, &mut || progress.interrupted())
            .map_err(|e| e.in_stage("k1", 0))?;
        let r = StageRecord { stage: "k1".into(), epochs, pool: 0, scored: archs.len() };
        progress.epoch_end(&r);
        self.log(&mut records, r)?;
        self.rank(space.as_ref(), &[1, k])
    }

    /// τ, ρ, precision@k of each K's scores against `fewshot.truth`, written to `fewshot.json`.
    fn rank(&self, space: &dyn RankSpace, ks: &[usize]) -> Result<Vec<KResult>, TrainError> {
        let truth = self
            .cfg
            .fewshot
            .truth
            .parse::<TruthSource>()
            .and_then(|t| t.load(space))
            .map_err(|e| invalid(format!("fewshot.truth: {e}")))?;
        let mut out = vec![];
        for &k in ks {
            let path = self.scores_csv(k);
            let scores = ArchScores::read_csv(&path, space).map_err(|e| invalid(e.to_string()))?;
            let joined = join(&scores, &truth).map_err(|e| invalid(e.to_string()))?;
            let n = joined.rows.len();
            let opts = RankOptions {
                ks: RankOptions::default().ks.into_iter().filter(|&x| x <= n).collect(),
                ..Default::default()
            };
            let report = RankReport::from_joined(&joined, &opts).map_err(|e| invalid(e.to_string()))?;
            out.push(KResult { k, scores: path.display().to_string(), report });
        }
        let json = serde_json::json!({ "truth": truth.name(), "results": out });
        let path = self.files.dir.join("fewshot.json");
        write_atomic(&path, serde_json::to_string_pretty(&json).expect("json").as_bytes()).map_err(io(&path))?;
        Ok(out)
    }
}

/// The scores of `archs` (in their order) as a scores CSV.
fn write_scores(
    space: &dyn RankSpace,
    archs: &[String],
    scores: &BTreeMap<String, f64>,
    out: &Path,
) -> Result<(), TrainError> {
    let mut table = ArchScores::new();
    for a in archs {
        let s = scores.get(a).ok_or_else(|| invalid(format!("{a} was not scored in its group")))?;
        table.push(space, a, *s);
    }
    table.write_csv(out).map_err(|e| invalid(e.to_string()))
}
