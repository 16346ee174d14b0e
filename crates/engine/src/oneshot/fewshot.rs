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
use std::collections::{BTreeMap, BTreeSet};
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
    /// The whole run's lock; a single stage's job holds only its stage's own.
    _lock: Option<oxnas_core::lock::Lock>,
}

struct Plan {
    space: Box<dyn RankSpace>,
    /// (group key, its architectures in the space's list order).
    groups: Vec<(String, Vec<String>)>,
    archs: Vec<String>,
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
        Ok(FewShotRunner { cfg, files, _lock: Some(_lock) })
    }

    /// The run in `dir` for one stage's job: its config only, without the whole run's lock, so that
    /// stages can run side by side (each stage's supernet directory has a lock of its own).
    pub fn for_stage(dir: &Path) -> Result<Self, TrainError> {
        let files = RunFiles::fewshot(dir);
        let path = files.config();
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::Resume {
            dir: dir.display().to_string(),
            why: format!("no readable config.toml ({e}); is this an oxnas few-shot directory?"),
        })?;
        let cfg = <FewShotConfig as oxnas_core::config::ConfigFile>::from_toml_str(&text, &path.display().to_string())?;
        Ok(FewShotRunner { cfg, files, _lock: None })
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

    /// The space, its groups and the architectures to score, as the config defines them.
    fn plan(&self) -> Result<Plan, TrainError> {
        let f = &self.cfg.fewshot;
        let space = self.cfg.supernet.rank_space()?;
        let all = space.enumerate().ok_or_else(|| {
            invalid(format!(
                "few-shot groups are built from the list of all architectures, and the {} space is too large to list",
                space.name()
            ))
        })?;
        let groups = split_by_slots(&all, space.as_ref(), &f.split)?.into_iter().collect();
        let archs =
            space.resolve_list(&f.archs, self.cfg.run.seed).map_err(|e| invalid(format!("fewshot.archs: {e}")))?;
        Ok(Plan { space, groups, archs })
    }

    /// The stages after the warm-up, each an independent job: `group-00`, `group-01`, ..., `k1`.
    pub fn stage_names(&self) -> Result<Vec<String>, TrainError> {
        Ok(stage_names(self.plan()?.groups.len()))
    }

    fn scoring(&self) -> Scoring {
        let f = &self.cfg.fewshot;
        Scoring { eval_images: f.eval_images, bn: f.bn, recal_batches: f.recal_batches }
    }

    fn warmup(&self) -> Stage {
        self.stage("warmup", self.cfg.fewshot.warmup_epochs, None, None)
    }

    /// Runs one stage (for a scheduler's job, or `--jobs`): `warmup`, or one of
    /// [`FewShotRunner::stage_names`], which start from the finished warm-up.
    pub fn run_stage(&self, name: &str, progress: &mut dyn Progress<StageRecord>) -> Result<StageRecord, TrainError> {
        let plan = self.plan()?;
        if name == "warmup" {
            let epochs = self.cfg.fewshot.warmup_epochs;
            self.warmup().train(&mut Nested { outer: progress, label: "warm-up".into() })?;
            return Ok(StageRecord { stage: name.into(), epochs, pool: 0, scored: 0 });
        }
        let done =
            std::fs::read_to_string(RunFiles::supernet(&self.warmup().dir).log()).map_or(0, |t| t.lines().count());
        if done < self.cfg.fewshot.warmup_epochs {
            return Err(invalid(format!(
                "stage {name} starts from the warm-up, which has {done} of {} epochs; run `oxnas supernet fewshot --resume {}` first",
                self.cfg.fewshot.warmup_epochs,
                self.files.dir.display()
            )));
        }
        match name.strip_prefix("group-").and_then(|i| i.parse::<usize>().ok()) {
            Some(i) if i < plan.groups.len() => Ok(self.group(&plan, i, progress)?.1),
            _ if name == "k1" => self.single(&plan, progress),
            _ => {
                Err(invalid(format!("no stage '{name}'; the stages are {}", stage_names(plan.groups.len()).join(", "))))
            }
        }
    }

    /// Group `i`: trains its sub-supernet and scores the sampled architectures in it.
    fn group(
        &self,
        plan: &Plan,
        i: usize,
        progress: &mut dyn Progress<StageRecord>,
    ) -> Result<(BTreeMap<String, f64>, StageRecord), TrainError> {
        let (key, members) = &plan.groups[i];
        let name = format!("group-{i:02}");
        let stage = self.stage(&name, self.cfg.optim.epochs, Some(members.clone()), Some(self.warmup().checkpoint()));
        let ckpt = stage.checkpoint();
        progress.message(&format!("group {}/{} ({key}): {} architectures", i + 1, plan.groups.len(), members.len()));
        stage.train(&mut Nested { outer: progress, label: format!("group {}", i + 1) })?;
        let in_group: BTreeSet<&String> = members.iter().collect();
        let mine: Vec<String> = plan.archs.iter().filter(|a| in_group.contains(a)).cloned().collect();
        let out = self.files.dir.join(&name).join("scores.csv");
        let cfg = self.cfg.supernet_config(0);
        let scores =
            score_into(&ckpt, &cfg, &self.scoring(), plan.space.as_ref(), &mine, &out, &mut || progress.interrupted())
                .map_err(|e| e.in_stage(&name, 0))?;
        let r =
            StageRecord { stage: key.clone(), epochs: self.cfg.optim.epochs, pool: members.len(), scored: mine.len() };
        progress.epoch_end(&r);
        Ok((scores, r))
    }

    /// K = 1: the warm-up continued on the whole space for the groups' total epochs, scoring everything.
    fn single(&self, plan: &Plan, progress: &mut dyn Progress<StageRecord>) -> Result<StageRecord, TrainError> {
        let epochs = plan.groups.len() * self.cfg.optim.epochs;
        let stage = self.stage("k1", epochs, None, Some(self.warmup().checkpoint()));
        let ckpt = stage.checkpoint();
        progress.message(&format!("K = 1: {epochs} more epochs on the whole space (the groups' total)"));
        stage.train(&mut Nested { outer: progress, label: "K=1".into() })?;
        let cfg = self.cfg.supernet_config(0);
        let out = self.scores_csv(1);
        score_into(&ckpt, &cfg, &self.scoring(), plan.space.as_ref(), &plan.archs, &out, &mut || {
            progress.interrupted()
        })
        .map_err(|e| e.in_stage("k1", 0))?;
        let r = StageRecord { stage: "k1".into(), epochs, pool: 0, scored: plan.archs.len() };
        progress.epoch_end(&r);
        Ok(r)
    }

    /// Runs (or finishes) every stage, writes both score tables, and ranks them against the truth.
    /// `parallel` gets the stages after the warm-up and may run them as separate processes first
    /// (each through [`FewShotRunner::run_stage`]); whatever it leaves undone runs here in turn.
    pub fn run(
        &self,
        progress: &mut dyn Progress<StageRecord>,
        parallel: &mut dyn FnMut(&[String]) -> Result<(), TrainError>,
    ) -> Result<Vec<KResult>, TrainError> {
        let plan = self.plan()?;
        let k = plan.groups.len();
        let mut records = vec![];
        let warmup_epochs = self.cfg.fewshot.warmup_epochs;
        self.warmup().train(&mut Nested { outer: progress, label: "warm-up".into() })?;
        self.log(&mut records, StageRecord { stage: "warmup".into(), epochs: warmup_epochs, pool: 0, scored: 0 })?;
        parallel(&stage_names(k))?;
        let mut grouped: BTreeMap<String, f64> = BTreeMap::new();
        for i in 0..k {
            let (scores, r) = self.group(&plan, i, progress)?;
            grouped.extend(scores);
            self.log(&mut records, r)?;
        }
        write_scores(plan.space.as_ref(), &plan.archs, &grouped, &self.scores_csv(k))?;
        let r = self.single(&plan, progress)?;
        self.log(&mut records, r)?;
        self.rank(plan.space.as_ref(), &[1, k])
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

/// The stages after the warm-up for `k` groups.
fn stage_names(k: usize) -> Vec<String> {
    (0..k).map(|i| format!("group-{i:02}")).chain(["k1".to_string()]).collect()
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
