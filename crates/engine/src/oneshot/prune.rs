//! `oxnas prune`: rounds of (train the supernet on the survivors, score them, remove the worst),
//! the space-pruning experiment of "How Does Supernet Help in NAS?" (finding 5), with a random
//! baseline that removes as much at random.
//!
//! A pruning directory holds its config, `survivors-00.txt` (the initial pool), and per round
//! `round-NN/supernet/` (a supernet run), `round-NN/scores.csv` and `survivors-NN.txt`;
//! `prune.jsonl` gets a round's record last, so a round counts as done only once everything it
//! wrote is on disk. A killed run resumes inside the round it was in: supernet training from its
//! last epoch, scoring from its last saved chunk.

use super::stage::{score_into, Nested, Scoring, Stage};
use crate::progress::Progress;
use crate::rundir::RunFiles;
use crate::train::trainer::TrainError;
use oxnas_core::config::{ConfigError, PruneConfig};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::oneshot::RankSpace;
use oxnas_core::prune::record::{top_percent, Best};
use oxnas_core::prune::{self, PruneMethod, PruneUnit, RoundRecord, Step, TruthSummary};
use oxnas_core::rank::{GroundTruth, TruthSource};
use oxnas_core::rng::{stream_seed, Stream};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct PruneRunner {
    pub cfg: PruneConfig,
    pub files: RunFiles,
    _lock: oxnas_core::lock::Lock,
}

/// What the rounds compare against: the truth and the initial pool's truly best architectures.
struct Reference {
    truth: Option<GroundTruth>,
    top1: BTreeSet<String>,
    top10: BTreeSet<String>,
}

impl Reference {
    fn summary(&self, archs: &[String]) -> Option<TruthSummary> {
        self.truth.as_ref().and_then(|t| TruthSummary::of(archs, t, &self.top1, &self.top10))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io { path: path.display().to_string(), source }
}

fn invalid(m: String) -> TrainError {
    TrainError::Config(ConfigError::Invalid(m))
}

impl PruneRunner {
    /// A fresh run (`Some(cfg)`) or the run already in `dir` (`None`).
    pub fn new(dir: &Path, cfg: Option<PruneConfig>) -> Result<Self, TrainError> {
        let files = RunFiles::prune(dir);
        let (cfg, _lock) = match cfg {
            Some(cfg) => {
                let lock = crate::rundir::create(&files, &[], &cfg)?;
                (cfg, lock)
            }
            None => crate::rundir::open(&files)?,
        };
        Ok(PruneRunner { cfg, files, _lock })
    }

    fn survivors_file(&self, round: usize) -> PathBuf {
        self.files.dir.join(format!("survivors-{round:02}.txt"))
    }
    fn round_dir(&self, round: usize) -> PathBuf {
        self.files.dir.join(format!("round-{round:02}"))
    }
    /// The best survivor by the last scored round, one architecture per line, for `oxnas train` or `--archs`.
    pub fn best_file(&self) -> PathBuf {
        self.files.dir.join("best.txt")
    }

    fn records(&self) -> Result<Vec<RoundRecord>, TrainError> {
        let path = self.files.log();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(io(&path)(e)),
        };
        text.lines()
            .map(|l| {
                serde_json::from_str(l).map_err(|e| TrainError::Resume {
                    dir: self.files.dir.display().to_string(),
                    why: format!("{} has a line that is not a round record ({e})", path.display()),
                })
            })
            .collect()
    }

    fn read_list(&self, path: &Path, space: &dyn RankSpace) -> Result<Vec<String>, TrainError> {
        let text = std::fs::read_to_string(path).map_err(io(path))?;
        text.lines().map(|l| space.canonical(l).map_err(|e| invalid(format!("{}: {e}", path.display())))).collect()
    }

    fn write_list(&self, path: &Path, archs: &[String]) -> Result<(), TrainError> {
        let text: String = archs.iter().map(|a| format!("{a}\n")).collect();
        write_atomic(path, text.as_bytes()).map_err(io(path))
    }

    /// The initial pool, written on the first call and read back after that.
    fn initial_pool(&self, space: &dyn RankSpace) -> Result<Vec<String>, TrainError> {
        let path = self.survivors_file(0);
        if path.exists() {
            return self.read_list(&path, space);
        }
        let pool = space
            .resolve_list(&self.cfg.prune.archs, self.cfg.run.seed)
            .map_err(|e| invalid(format!("prune.archs: {e}")))?;
        let mut seen = BTreeSet::new();
        let pool: Vec<String> = pool.into_iter().filter(|a| seen.insert(a.clone())).collect();
        if pool.len() < 2 {
            return Err(invalid(format!(
                "prune.archs = '{}' names fewer than two architectures",
                self.cfg.prune.archs
            )));
        }
        self.write_list(&path, &pool)?;
        Ok(pool)
    }

    fn reference(&self, space: &dyn RankSpace, pool: &[String]) -> Result<Reference, TrainError> {
        let name = self.cfg.prune.truth.trim();
        if name.is_empty() {
            return Ok(Reference { truth: None, top1: BTreeSet::new(), top10: BTreeSet::new() });
        }
        let truth = name
            .parse::<TruthSource>()
            .and_then(|t| t.load(space))
            .map_err(|e| invalid(format!("prune.truth: {e}")))?;
        Ok(Reference {
            top1: top_percent(pool, &truth, 1.0),
            top10: top_percent(pool, &truth, 10.0),
            truth: Some(truth),
        })
    }

    pub fn run(&self, progress: &mut dyn Progress<RoundRecord>) -> Result<Vec<RoundRecord>, TrainError> {
        let space = self.cfg.supernet.rank_space()?;
        let pool = self.initial_pool(space.as_ref())?;
        let reference = self.reference(space.as_ref(), &pool)?;
        let mut records = self.records()?;
        let mut survivors = match records.len() {
            0 => pool.clone(),
            n => self.read_list(&self.survivors_file(n), space.as_ref())?,
        };
        if !records.is_empty() {
            progress.message(&format!("resumed after round {} ({} survivors)", records.len(), survivors.len()));
        }
        for round in records.len() + 1..=self.cfg.prune.rounds {
            let (record, kept) = self.round(round, &survivors, space.as_ref(), &reference, progress)?;
            survivors = kept;
            records.push(record.clone());
            let lines: String = records.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect();
            write_atomic(&self.files.log(), lines.as_bytes()).map_err(io(&self.files.log()))?;
            if let Some(best) = &record.best_by_score {
                write_atomic(&self.best_file(), format!("{}\n", best.arch).as_bytes())
                    .map_err(io(&self.best_file()))?;
            }
            progress.epoch_end(&record);
            if round < self.cfg.prune.rounds && progress.interrupted() {
                return Err(TrainError::Interrupted { epoch: round - 1 });
            }
        }
        Ok(records)
    }

    /// One round: scores (supernet method), the pruning step, its survivors file; its record and survivors.
    fn round(
        &self,
        round: usize,
        survivors: &[String],
        space: &dyn RankSpace,
        reference: &Reference,
        progress: &mut dyn Progress<RoundRecord>,
    ) -> Result<(RoundRecord, Vec<String>), TrainError> {
        let p = &self.cfg.prune;
        let seed = self.cfg.run.seed;
        let (mut scores, mut train_s, mut score_s) = (BTreeMap::new(), 0.0, 0.0);
        if p.method == PruneMethod::Supernet {
            let started = Instant::now();
            self.train(round, survivors, progress)?;
            train_s = started.elapsed().as_secs_f64();
            let started = Instant::now();
            scores = self.score(round, survivors, space, progress)?;
            score_s = started.elapsed().as_secs_f64();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(seed, round, 2, Stream::Pruning));
        let step: Step = match (p.method, p.unit) {
            (PruneMethod::Supernet, PruneUnit::Arch) => prune::prune_archs(survivors, &scores, p.fraction)?,
            (PruneMethod::Supernet, PruneUnit::Op) => prune::prune_ops(survivors, &scores, space, p.fraction)?,
            (PruneMethod::Random, PruneUnit::Arch) => prune::random_archs(survivors, p.fraction, &mut rng),
            (PruneMethod::Random, PruneUnit::Op) => prune::random_ops(survivors, space, p.fraction, &mut rng)?,
        };
        self.write_list(&self.survivors_file(round), &step.survivors)?;
        let best = best_survivor(&step.survivors, &scores, reference.truth.as_ref());
        let record = RoundRecord {
            round,
            method: p.method,
            unit: p.unit,
            survivors_before: survivors.len(),
            scored: scores.len(),
            removed_archs: step.removed_archs,
            removed_choices: step.removed_choices,
            survivors_after: step.survivors.len(),
            best_by_score: best,
            truth_before: reference.summary(survivors),
            truth_after: reference.summary(&step.survivors),
            train_s,
            score_s,
        };
        Ok((record, step.survivors))
    }

    /// Trains (or finishes training) round `round`'s supernet on the survivors, starting from the
    /// previous round's weights.
    fn train(
        &self,
        round: usize,
        survivors: &[String],
        progress: &mut dyn Progress<RoundRecord>,
    ) -> Result<(), TrainError> {
        let mut cfg = self.cfg.supernet_config(self.cfg.optim.epochs);
        // A seed of its own per round (new data order and paths), kept below 2^63: TOML integers are i64.
        cfg.run.seed = stream_seed(self.cfg.run.seed, round, 0, Stream::Pruning) >> 1;
        let init = (round > 1).then(|| RunFiles::supernet(&self.round_dir(round - 1).join("supernet")).last());
        progress.message(&format!("round {round}: training the supernet on {} survivors", survivors.len()));
        let stage = Stage { dir: self.round_dir(round).join("supernet"), cfg, pool: Some(survivors.to_vec()), init };
        stage.train(&mut Nested { outer: progress, label: format!("round {round}") })
    }

    /// Scores round `round`'s sample of survivors with its supernet (resumable per chunk).
    fn score(
        &self,
        round: usize,
        survivors: &[String],
        space: &dyn RankSpace,
        progress: &mut dyn Progress<RoundRecord>,
    ) -> Result<BTreeMap<String, f64>, TrainError> {
        let p = &self.cfg.prune;
        let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(self.cfg.run.seed, round, 1, Stream::Pruning));
        let cells = prune::to_score(survivors, p.score_sample, &mut rng);
        progress.message(&format!("round {round}: scoring {} of {} survivors", cells.len(), survivors.len()));
        let scoring = Scoring { eval_images: p.eval_images, bn: p.bn, recal_batches: p.recal_batches };
        let ckpt = RunFiles::supernet(&self.round_dir(round).join("supernet")).last();
        let out = self.round_dir(round).join("scores.csv");
        score_into(&ckpt, &self.cfg.supernet_config(0), &scoring, space, &cells, &out, &mut || progress.interrupted())
            .map_err(|e| e.in_stage(&format!("round {round}"), round - 1))
    }
}

/// The highest-scored survivor (ties: the smaller canonical string), with its truth.
fn best_survivor(survivors: &[String], scores: &BTreeMap<String, f64>, truth: Option<&GroundTruth>) -> Option<Best> {
    survivors
        .iter()
        .filter_map(|a| scores.get(a).map(|&s| (a, s)))
        .max_by(|x, y| x.1.total_cmp(&y.1).then_with(|| y.0.cmp(x.0)))
        .map(|(a, s)| Best { arch: a.clone(), score: s, truth: truth.and_then(|t| t.get(a)) })
}
