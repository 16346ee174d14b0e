//! The one bilevel search loop. DARTS, SGAS, DARTS-ES and SGAS-es are a decision policy
//! (`oxnas_core::search::policy`) on it, over a search space (`oxnas_core::space` and its supernet).
//!
//! End of every epoch: λmax when the policy asks for it → the epoch's own checkpoint when the
//! policy may roll back to it → the policy's action (continue, decide, roll back and decide, stop,
//! finish) → the continuation checkpoint `last`. Resume loads `last`; a rollback loads an epoch
//! checkpoint. Every random draw (data order, augmentation, α batches) is keyed by a monotonic
//! iteration counter, so an epoch re-run after a rollback sees fresh batches, as in the reference,
//! and any run repeats exactly from the same seed.

use super::hessian::{HessianError, HessianProbe};
use super::image_workload::ImageWorkload;
use super::record::{DecisionRecord, SearchEpoch};
use super::state::{Checkpoints, EpochState, SearchState};
use super::text_workload::TextWorkload;
use super::workload::{EpochAt, LambdaProbe, Trainee, Workload};
use super::{EdgeState, Supernet};
use crate::checkpoint::CheckpointError;
use crate::progress::Progress;
use crate::rundir::RunFiles;
use crate::train::optim::cosine_lr;
use crate::EngineError;
use oxnas_core::arch::Architecture;
use oxnas_core::config::{ConfigFile, SearchConfig, SearchData};
use oxnas_core::data::DataError;
use oxnas_core::fsutil::write_atomic;
use oxnas_core::search::{Action, AnyPolicy, CellDecision, Policy, PolicyError};
use oxnas_core::space::{CellAlphas, SearchSpace};
use std::path::Path;
use std::time::Instant;
use tch::Device;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SearchError {
    #[error(transparent)]
    Config(#[from] oxnas_core::config::ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("Hessian probe: {0}")]
    Hessian(#[from] HessianError),
    #[error("decision policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// `what` became non-finite; `kept` says which checkpoint survives. Epochs and steps are 1-based.
    #[error("search diverged: {what}. {kept} Lower optim.lr or arch.lr, or set optim.grad_clip (e.g. 5)")]
    Diverged { what: String, kept: String },
    #[error("stopped after epoch {epoch}; continue with --resume")]
    Interrupted { epoch: usize },
    #[error("cannot resume from {dir}: {why}")]
    Resume { dir: String, why: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: the checkpoint does not fit this supernet: {why}")]
    Weights { path: String, why: String },
    #[error(transparent)]
    RunDir(#[from] crate::rundir::RunDirError),
}

pub struct SearchOutcome {
    pub architecture: Architecture,
    pub trace: Vec<SearchEpoch>,
    pub stop_epoch: Option<usize>,
    pub device: Device,
}

pub struct Search {
    pub cfg: SearchConfig,
    pub files: RunFiles,
    /// The run directory belongs to this search until it is dropped.
    _lock: oxnas_core::lock::Lock,
    resume: bool,
    /// On resume, continue with a fresh optimiser instead of refusing a checkpoint whose optimiser
    /// state is missing or incomplete (complete state is always loaded).
    pub reset_optimizer: bool,
}

pub enum SearchStart {
    Fresh(Box<SearchConfig>),
    Resume,
}

/// A search in progress: what it trains, on which data, and where it stands.
struct Running<'a, W: Workload> {
    cfg: &'a SearchConfig,
    ckpt: Checkpoints<'a>,
    space: Box<dyn SearchSpace>,
    trainee: Trainee<W::Net>,
    work: W,
    probe: HessianProbe,
    state: SearchState,
}

/// What the policy made of an epoch, for its record.
struct Verdict {
    decisions: Vec<DecisionRecord>,
    event: Option<String>,
    genotype: String,
    /// The epoch decided at: later epochs of the phase were undone.
    decided_at: Option<usize>,
}

impl Search {
    pub fn new(dir: &Path, start: SearchStart) -> Result<Self, SearchError> {
        let files = RunFiles::search(dir);
        let (cfg, _lock, resume) = match start {
            SearchStart::Fresh(cfg) => {
                let lock = crate::rundir::create(&files, &["checkpoints/epochs"], cfg.as_ref())?;
                (*cfg, lock, false)
            }
            SearchStart::Resume => {
                let (cfg, lock) = crate::rundir::open(&files)?;
                (cfg, lock, true)
            }
        };
        Ok(Search { cfg, files, _lock, resume, reset_optimizer: false })
    }

    pub fn run(&self, progress: &mut dyn Progress<SearchEpoch>) -> Result<SearchOutcome, SearchError> {
        // The one place that tells workloads apart: what the config's data section holds.
        match self.cfg.data {
            SearchData::Images(_) => self.run_with::<ImageWorkload>(progress),
            SearchData::Text(_) => self.run_with::<TextWorkload>(progress),
        }
    }

    fn run_with<W: Workload>(&self, progress: &mut dyn Progress<SearchEpoch>) -> Result<SearchOutcome, SearchError> {
        let mut run = self.start::<W>(progress)?;
        while !run.state.finished {
            let record = run.epoch(progress)?;
            progress.epoch_end(&record);
            if !run.state.finished && progress.interrupted() {
                return Err(SearchError::Interrupted { epoch: record.epoch });
            }
        }
        run.finish()
    }

    fn start<W: Workload>(&self, progress: &mut dyn Progress<SearchEpoch>) -> Result<Running<'_, W>, SearchError> {
        let cfg = &self.cfg;
        progress.message(&cfg.describe());
        let mut work = W::load(cfg)?;
        tch::manual_seed(cfg.run.seed as i64);
        let space = cfg.supernet.space();
        let mut trainee = Trainee::new(cfg, work.build(cfg)?, W::unrolled_clip(cfg));
        let ckpt = Checkpoints {
            files: &self.files,
            config_toml: cfg.to_toml(),
            device: work.device(),
            reset_optimizer: self.reset_optimizer,
        };
        let state = if self.resume {
            let (state, optimizer) = ckpt.restore_last(&mut trainee)?;
            progress.message(&format!(
                "resumed after epoch {} of {} ({} decisions made); continuing at epoch {}",
                state.trace.len(),
                state.policy.epochs(),
                state.policy.phase(),
                state.next_epoch + 1
            ));
            if optimizer == crate::checkpoint::OptimizerState::Reset {
                progress.message(crate::run::RESET_NOTICE);
            }
            state
        } else {
            fresh_state(cfg, space.as_ref(), trainee.net.as_ref())?
        };
        work.set_batch_size(cfg, state.policy.batch_size())?;
        progress.message(&work.describe());
        let probe = HessianProbe::new(cfg.arch.weight_decay)?;
        Ok(Running { cfg, ckpt, space, trainee, work, probe, state })
    }
}

fn fresh_state<N: Supernet + ?Sized>(
    cfg: &SearchConfig,
    space: &dyn SearchSpace,
    net: &N,
) -> Result<SearchState, SearchError> {
    Ok(SearchState {
        next_epoch: 0,
        iteration: 0,
        policy: AnyPolicy::new(cfg, space)?,
        edge_states: edge_states(net),
        trace: vec![],
        finished: false,
        eigvec: None,
    })
}

impl<W: Workload> Running<'_, W> {
    /// Trains, evaluates and probes one epoch, lets the policy act, and checkpoints.
    fn epoch(&mut self, progress: &mut dyn Progress<SearchEpoch>) -> Result<SearchEpoch, SearchError> {
        let (epoch, iteration) = (self.state.next_epoch, self.state.iteration);
        let o = &self.cfg.optim;
        let lr = cosine_lr(o.lr, o.lr_min, epoch, o.epochs);
        let started = Instant::now();
        progress.epoch_start(epoch, self.state.policy.epochs(), self.work.steps_per_epoch());
        let at = EpochAt { epoch, iteration, lr };
        self.trainee.train_alpha = self.state.policy.trains_alpha(epoch);
        let trained =
            self.work.train_epoch(&mut self.trainee, self.cfg, at, progress).map_err(|e| self.with_kept(e))?;
        let valid = self.work.evaluate(self.trainee.net.as_ref());
        let valid_loss = valid.loss;
        if !valid_loss.is_finite() {
            let what = format!("the validation loss became {valid_loss} at epoch {}", epoch + 1);
            return Err(self.with_kept(SearchError::Diverged { what, kept: String::new() }));
        }
        let cells = alphas_of(self.trainee.net.as_ref());
        let lambda = self.probe_lambda(epoch).map_err(|e| self.with_kept(e))?;
        let (phase, batch_size) = (self.state.policy.phase(), self.state.policy.batch_size());
        let skip_count = self.space.skip_count(&cells, &self.state.edge_states);
        if let Some(policy) = self.state.policy.snapshot() {
            let edge_states = self.state.edge_states.clone();
            let es = EpochState { epoch, iteration, batch_size, edge_states, policy };
            self.ckpt.save_epoch(&self.trainee, &es)?;
        }
        let verdict = self.apply_policy(epoch, lambda.as_ref().map(|l| l.lambda), &cells, phase)?;
        let record = SearchEpoch {
            iteration,
            epoch,
            phase,
            lr,
            batch_size,
            train_loss: trained.loss,
            train_acc: trained.accuracy,
            train_ppl: W::TEXT.then(|| trained.loss.exp()),
            valid_loss,
            valid_acc: valid.accuracy,
            valid_ppl: W::TEXT.then(|| valid_loss.exp()),
            lambda_max: lambda.as_ref().map(|l| l.lambda),
            hessian_s: lambda.as_ref().map(|l| l.seconds),
            hessian_hvps: lambda.as_ref().map(|l| l.hvps),
            lambda_check: lambda.as_ref().and_then(|l| l.check.clone()),
            skip_count,
            alphas: cells,
            genotype: verdict.genotype,
            decisions: verdict.decisions,
            event: verdict.event,
            rolled_back: verdict.decided_at.is_some_and(|at| epoch > at),
            epoch_time_s: started.elapsed().as_secs_f64(),
            images_per_s: (!W::TEXT).then(|| trained.seen as f64 / trained.seconds.max(1e-9)),
            tokens_per_s: W::TEXT.then(|| trained.seen as f64 / trained.seconds.max(1e-9)),
        };
        self.advance(&record)?;
        Ok(record)
    }

    /// λmax on the epoch's last α batch, when the policy asks for it and α remain undecided. A
    /// non-finite Hessian means the search diverged.
    fn probe_lambda(&mut self, epoch: usize) -> Result<Option<LambdaProbe>, SearchError> {
        let method = self.cfg.hessian.method();
        let (true, Some(method)) = (self.state.policy.needs_lambda(epoch), method) else { return Ok(None) };
        let warm = self.state.eigvec.as_ref().filter(|_| self.cfg.hessian.warm_start());
        let probe = self
            .work
            .lambda_max(&self.trainee, &self.probe, (method, self.cfg.run.seed), (warm, self.cfg.hessian.check()))
            .map_err(|e| hessian_divergence(e, epoch))?;
        if let Some(v) = probe.as_ref().and_then(|p| p.vector.clone()).filter(|_| self.cfg.hessian.warm_start()) {
            self.state.eigvec = Some(v);
        }
        Ok(probe)
    }

    /// A divergence error completed with the checkpoint that survives it.
    fn with_kept(&self, e: SearchError) -> SearchError {
        let SearchError::Diverged { what, .. } = e else { return e };
        let kept = match self.state.trace.last() {
            Some(r) => format!(
                "The last good checkpoint (epoch {}) is kept in {}.",
                r.epoch + 1,
                self.ckpt.files.last().display()
            ),
            None => "No epoch had completed, so there is no checkpoint.".to_string(),
        };
        SearchError::Diverged { what, kept }
    }

    fn apply_policy(
        &mut self,
        epoch: usize,
        lambda: Option<f64>,
        cells: &[CellAlphas],
        phase: usize,
    ) -> Result<Verdict, SearchError> {
        let mut verdict = Verdict { decisions: vec![], event: None, genotype: String::new(), decided_at: None };
        let mut decided_cells = None;
        match self.state.policy.end_of_epoch(epoch, lambda, cells)? {
            Action::Continue | Action::Finish => {}
            Action::Stop { event, .. } => verdict.event = Some(event),
            Action::Decided { decisions, event } => {
                verdict.decisions = self.apply_decisions(decisions);
                verdict.event = Some(event);
                verdict.decided_at = Some(self.after_decision(epoch, phase)?);
            }
            Action::Rollback { epoch: to, event } => {
                let snapshot = self.ckpt.restore_epoch(&mut self.trainee, to)?;
                self.state.policy.restore_snapshot(snapshot)?;
                let at = alphas_of(self.trainee.net.as_ref());
                let decisions = self.state.policy.decide_after_rollback(to, &at)?;
                verdict.decisions = self.apply_decisions(decisions);
                verdict.event = Some(event);
                verdict.decided_at = Some(self.after_decision(to, phase)?);
                decided_cells = Some(at);
            }
        }
        let shown = decided_cells.as_deref().unwrap_or(cells);
        verdict.genotype = self.state.policy.architecture(self.space.as_ref(), shown)?.reference_string();
        Ok(verdict)
    }

    /// Fixes (and prunes) the decided edges in the supernet.
    fn apply_decisions(&mut self, decisions: Vec<CellDecision>) -> Vec<DecisionRecord> {
        let (ops, names) = (self.space.op_names(), self.space.cell_names());
        let mut records = vec![];
        for CellDecision { cell, decision: d } in decisions {
            let arch = &mut self.trainee.net.arch_mut()[cell];
            arch.set_state(d.edge, EdgeState::Fixed(d.op));
            for &p in &d.pruned {
                arch.set_state(p, EdgeState::Pruned);
            }
            let op = ops[d.op].to_string();
            records.push(DecisionRecord {
                cell: names[cell].to_string(),
                edge: d.edge,
                op,
                score: d.score,
                pruned: d.pruned,
            });
        }
        records
    }

    /// A decision at epoch `at`: training goes on from `at + 1`, the phase's later epochs are
    /// undone, and older epoch checkpoints can no longer be rollback targets.
    fn after_decision(&mut self, at: usize, phase: usize) -> Result<usize, SearchError> {
        self.ckpt.prune_epochs(at)?;
        self.state.next_epoch = at;
        for r in self.state.trace.iter_mut().filter(|r| r.phase == phase && r.epoch > at) {
            r.rolled_back = true;
        }
        Ok(at)
    }

    /// Records the epoch, moves the counters on and writes the log and `last`.
    fn advance(&mut self, record: &SearchEpoch) -> Result<(), SearchError> {
        let s = &mut self.state;
        s.trace.push(record.clone());
        s.next_epoch += 1;
        s.iteration += 1;
        s.finished = s.policy.finished();
        self.work.set_batch_size(self.cfg, s.policy.batch_size())?;
        s.edge_states = edge_states(self.trainee.net.as_ref());
        self.ckpt.write_log(&s.trace)?;
        self.ckpt.save_last(&self.trainee, s)
    }

    /// The result: the architecture of the policy's result epoch (or of the final α), written
    /// as result.json and genotype.txt/.json.
    fn finish(self) -> Result<SearchOutcome, SearchError> {
        let policy = &self.state.policy;
        let cells = match policy.result_epoch() {
            Some(e) => {
                self.state.trace.iter().rev().find(|r| r.epoch == e).expect("the stop epoch was run").alphas.clone()
            }
            None => alphas_of(self.trainee.net.as_ref()),
        };
        let architecture = policy.architecture(self.space.as_ref(), &cells)?;
        let trace = &self.state.trace;
        let result = serde_json::json!({
            "space": architecture.space(),
            "genotype": architecture.reference_string(),
            "genotype_json": architecture.to_json(),
            "stop_epoch": policy.result_epoch(),
            "epochs_run": trace.len(),
            "decisions": trace.iter().flat_map(|r| r.decisions.iter().map(move |d| serde_json::json!({"epoch": r.epoch, "cell": d.cell, "edge": d.edge, "op": d.op, "score": d.score, "pruned": d.pruned}))).collect::<Vec<_>>(),
            "seed": self.cfg.run.seed,
        });
        let files = self.ckpt.files;
        let write = |path: std::path::PathBuf, text: String| {
            write_atomic(&path, text.as_bytes())
                .map_err(|source| SearchError::Io { path: path.display().to_string(), source })
        };
        write(files.result(), serde_json::to_string_pretty(&result).expect("json"))?;
        write(files.dir.join("genotype.txt"), format!("{}\n", architecture.reference_string()))?;
        write(files.dir.join("genotype.json"), serde_json::to_string_pretty(&architecture.to_json()).expect("json"))?;
        let stop_epoch = policy.result_epoch();
        Ok(SearchOutcome { architecture, trace: self.state.trace, stop_epoch, device: self.ckpt.device })
    }
}

/// A non-finite Hessian at `epoch` is the search diverging, reported as such.
fn hessian_divergence(e: SearchError, epoch: usize) -> SearchError {
    match e {
        SearchError::Hessian(HessianError::NonFinite { what }) => SearchError::Diverged {
            what: format!(
                "the Hessian of the validation loss (λmax probe) became non-finite ({what}) at epoch {}",
                epoch + 1
            ),
            kept: String::new(),
        },
        other => other,
    }
}

fn edge_states<N: Supernet + ?Sized>(net: &N) -> Vec<Vec<EdgeState>> {
    net.arch().iter().map(|c| c.states.clone()).collect()
}

fn alphas_of<N: Supernet + ?Sized>(net: &N) -> Vec<CellAlphas> {
    net.arch().iter().map(|c| CellAlphas::new(c.name, c.values())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;
    use crate::search::record::LambdaCheck;
    use crate::search::test_support::{tiny, StopAfter};
    use oxnas_core::config::{
        ArgmaxConfig, DartsSupernetConfig, DecisionConfig, HessianConfig, SgasConfig, SupernetConfig,
    };
    use oxnas_core::darts::OpSet;
    use oxnas_core::search::{Criterion, LambdaRule};

    fn strip(trace: &[SearchEpoch]) -> Vec<SearchEpoch> {
        trace
            .iter()
            .map(|e| SearchEpoch {
                epoch_time_s: 0.0,
                images_per_s: None,
                tokens_per_s: None,
                hessian_s: None,
                lambda_check: e.lambda_check.clone().map(|c| LambdaCheck { full_s: 0.0, cold_s: 0.0, ..c }),
                ..e.clone()
            })
            .collect()
    }

    /// Equal traces, or a panic naming the first record and field that differ (whole traces are long).
    fn assert_same(a: &[SearchEpoch], b: &[SearchEpoch], what: &str) {
        let (a, b) = (strip(a), strip(b));
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            if x != y {
                let (jx, jy) = (serde_json::to_value(x).unwrap(), serde_json::to_value(y).unwrap());
                let fields: Vec<String> = jx
                    .as_object()
                    .unwrap()
                    .iter()
                    .filter(|(k, v)| jy[k.as_str()] != **v)
                    .map(|(k, v)| format!("{k}: {v} vs {}", jy[k.as_str()]))
                    .collect();
                panic!(
                    "{what}: record {i} (epoch {}) differs: {}",
                    x.epoch,
                    fields.join("; ").chars().take(1500).collect::<String>()
                );
            }
        }
        assert_eq!(a.len(), b.len(), "{what}: trace lengths differ");
    }

    #[test]
    fn sgas_es_rolls_back_decides_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let full = Search::new(&dir.path().join("a"), SearchStart::Fresh(Box::new(tiny(&[]))))
            .unwrap()
            .run(&mut Quiet)
            .unwrap();
        // Phase 0 runs epochs 0..=5; at epoch 5 the rule fires (LA(4)/LA(0) > 0.5) and rolls back to 0.
        let first = full.trace.iter().find(|e| !e.decisions.is_empty()).unwrap();
        assert_eq!(first.epoch, 5, "{:?}", first.event);
        assert!(first.event.as_deref().unwrap().contains("rolled back to epoch 1 "), "{:?}", first.event);
        assert!(full.trace[1..=5].iter().all(|e| e.rolled_back), "epochs 1..=5 of phase 0 were undone");
        assert!(!full.trace[0].rolled_back);
        // After the rollback the run continues at epoch 1 in phase 1.
        assert_eq!((full.trace[6].epoch, full.trace[6].phase), (1, 1));
        // Six decisions, one per NB201 edge, every edge decided exactly once.
        let mut edges: Vec<usize> = full.trace.iter().flat_map(|e| e.decisions.iter().map(|d| d.edge)).collect();
        edges.sort();
        assert_eq!(edges, vec![0, 1, 2, 3, 4, 5]);
        assert!(matches!(full.architecture, Architecture::Nb201(_)));
        assert!(full.trace.iter().filter(|e| e.phase < 6).all(|e| e.lambda_max.is_some()));

        // Interrupted after 8 executed epochs (after the rollback), then resumed: identical to the
        // uninterrupted run, which also proves the run is deterministic for a given seed.
        let cut = dir.path().join("c");
        let err =
            Search::new(&cut, SearchStart::Fresh(Box::new(tiny(&[])))).unwrap().run(&mut StopAfter(8)).err().unwrap();
        assert!(matches!(err, SearchError::Interrupted { .. }), "{err}");
        let resumed = Search::new(&cut, SearchStart::Resume).unwrap().run(&mut Quiet).unwrap();
        assert_same(&resumed.trace, &full.trace, "resumed");
        assert_eq!(resumed.architecture, full.architecture);
        let log = std::fs::read_to_string(cut.join("search.jsonl")).unwrap();
        assert_eq!(log.lines().count(), full.trace.len());
    }

    /// A weights-only warm-up: α stay at their initial values and no λmax is probed for its epochs,
    /// while the weights train; the first phase starts after it and its rollback lands after the
    /// warm-up. A run interrupted inside the warm-up resumes to the same trace.
    #[test]
    fn a_weight_warmup_trains_only_the_weights_then_searches() {
        let dir = tempfile::tempdir().unwrap();
        let sets = ["decision.weight_warmup=3"];
        let run = Search::new(&dir.path().join("w"), SearchStart::Fresh(Box::new(tiny(&sets))))
            .unwrap()
            .run(&mut Quiet)
            .unwrap();
        let t = &run.trace;
        let initial = &t[0].alphas[0].alpha;
        for e in &t[..3] {
            assert_eq!(&e.alphas[0].alpha, initial, "α moved in warm-up epoch {}", e.epoch);
            assert!(e.lambda_max.is_none() && e.decisions.is_empty(), "epoch {}: {e:?}", e.epoch);
        }
        assert!(t[1].train_loss < t[0].train_loss, "the weights train during the warm-up");
        assert_ne!(&t[3].alphas[0].alpha, initial, "α train from epoch 4");
        assert!(t[3].lambda_max.is_some());
        // As in the run without warm-up, the rule fires at the phase's 6th epoch (3 + 5) and
        // rolls back to its first, epoch 3: never into the warm-up.
        let first = t.iter().find(|e| !e.decisions.is_empty()).unwrap();
        assert_eq!(first.epoch, 8, "{:?}", first.event);
        assert!(first.event.as_deref().unwrap().contains("rolled back to epoch 4 "), "{:?}", first.event);
        let cut = dir.path().join("c");
        let err =
            Search::new(&cut, SearchStart::Fresh(Box::new(tiny(&sets)))).unwrap().run(&mut StopAfter(2)).err().unwrap();
        assert!(matches!(err, SearchError::Interrupted { .. }), "{err}");
        let resumed = Search::new(&cut, SearchStart::Resume).unwrap().run(&mut Quiet).unwrap();
        assert_same(&resumed.trace, &run.trace, "resumed");
    }

    /// Warm-started Lanczos: every probe logs its products and, with `hessian.check`, agrees with the
    /// full Hessian on the same weights and batch to 1e-3 (relative), as the cold start does; the
    /// eigenvector travels in the checkpoint, so an interrupted run resumes to the same trace.
    #[test]
    fn warm_started_lanczos_matches_the_full_hessian_and_resumes_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let sets = ["hessian.mode=\"lanczos\"", "hessian.warm_start=true", "hessian.check=true"];
        let warm = Search::new(&dir.path().join("w"), SearchStart::Fresh(Box::new(tiny(&sets))))
            .unwrap()
            .run(&mut Quiet)
            .unwrap();
        let probed: Vec<&SearchEpoch> = warm.trace.iter().filter(|e| e.lambda_max.is_some()).collect();
        assert!(probed.len() > 5);
        for e in probed {
            let (lambda, c) = (e.lambda_max.unwrap(), e.lambda_check.as_ref().unwrap());
            assert!(e.hessian_hvps.is_some_and(|k| (1..=c.full_hvps).contains(&k)), "{e:?}");
            assert!((lambda - c.full).abs() <= 1e-3 * c.full.abs(), "epoch {}: {lambda} vs full {}", e.epoch, c.full);
            assert!((c.cold - c.full).abs() <= 1e-3 * c.full.abs(), "epoch {}: cold {} vs {}", e.epoch, c.cold, c.full);
        }
        let cut = dir.path().join("c");
        let err =
            Search::new(&cut, SearchStart::Fresh(Box::new(tiny(&sets)))).unwrap().run(&mut StopAfter(4)).err().unwrap();
        assert!(matches!(err, SearchError::Interrupted { .. }), "{err}");
        let resumed = Search::new(&cut, SearchStart::Resume).unwrap().run(&mut Quiet).unwrap();
        assert_same(&resumed.trace, &warm.trace, "resumed");
    }

    /// `tiny` on a 2-step, 3-cell DARTS supernet with the SGAS-es op set, Hessian off, `decision`.
    fn tiny_darts(decision: DecisionConfig, epochs: usize) -> SearchConfig {
        let mut cfg = tiny(&[]);
        cfg.supernet = SupernetConfig::Darts(DartsSupernetConfig {
            channels: 2,
            layers: 3,
            steps: 2,
            ops: OpSet::sgas_es(),
            execution: Default::default(),
        });
        cfg.hessian = HessianConfig::Off {};
        cfg.early_stop = None;
        cfg.decision = decision;
        cfg.optim.epochs = epochs;
        cfg.validate().unwrap();
        cfg
    }

    #[test]
    fn darts_argmax_and_sgas_on_the_darts_space() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = tiny_darts(DecisionConfig::Argmax(ArgmaxConfig {}), 2);
        let out =
            Search::new(&dir.path().join("d"), SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
        let Architecture::Darts(g) = &out.architecture else { panic!("darts space gives a genotype") };
        assert_eq!((g.normal.len(), g.reduce.len()), (4, 4));
        assert_eq!(out.trace.len(), 2);

        // SGAS on a 2-step DARTS cell: 4 decisions per cell (2 per node), in-degree pruning.
        let sgas =
            SgasConfig { criterion: Criterion::Cri2, warmup_epochs: 1, frequency: 1, history: 4, batch_increase: 0 };
        let cfg = tiny_darts(DecisionConfig::Sgas(sgas), 7);
        let out =
            Search::new(&dir.path().join("s"), SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
        let decided: usize = out.trace.iter().map(|e| e.decisions.len()).sum();
        assert_eq!(decided, 8, "2 cells x 2 nodes x 2 kept edges");
        let pruned: usize = out.trace.iter().flat_map(|e| e.decisions.iter().map(|d| d.pruned.len())).sum();
        assert_eq!(pruned, 2, "node 1 has 3 inputs: one is pruned in each cell");

        // Second order through the decisions: the weights of decided and pruned edges' other ops leave
        // the forward pass and have no gradient, which the unrolled step must take in its stride.
        let mut cfg = tiny_darts(DecisionConfig::Sgas(sgas), 7);
        cfg.arch.order = oxnas_core::config::Order::Second;
        let out =
            Search::new(&dir.path().join("s2"), SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
        assert_eq!(out.trace.iter().map(|e| e.decisions.len()).sum::<usize>(), 8);
        assert!(out.trace.iter().all(|e| e.train_loss.is_finite()));
    }

    /// A search that diverges names the keys to lower and the checkpoint it kept, as training does,
    /// whether the loss or the λmax probe's Hessian is the first to overflow.
    #[test]
    fn search_divergence_names_the_keys_and_the_kept_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let err = Search::new(dir.path(), SearchStart::Fresh(Box::new(tiny(&["optim.lr=1e30", "arch.lr=1e30"]))))
            .unwrap()
            .run(&mut Quiet)
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(matches!(err, SearchError::Diverged { .. }), "{msg}");
        assert!(msg.contains("optim.lr") && msg.contains("arch.lr"), "{msg}");
        assert!(msg.contains("is kept in") || msg.contains("no checkpoint"), "{msg}");
        assert!(!msg.contains("at epoch 0"), "epochs are 1-based: {msg}");
    }

    #[test]
    fn a_non_finite_hessian_is_divergence() {
        let dir = tempfile::tempdir().unwrap();
        let search = Search::new(dir.path(), SearchStart::Fresh(Box::new(tiny(&[])))).unwrap();
        let mut run = search.start::<ImageWorkload>(&mut Quiet).unwrap();
        let probe_error = || SearchError::Hessian(HessianError::NonFinite { what: "Hessian row 0".into() });
        let msg = run.with_kept(hessian_divergence(probe_error(), 0)).to_string();
        assert!(msg.starts_with("search diverged") && msg.contains("Hessian row 0) at epoch 1"), "{msg}");
        assert!(msg.contains("No epoch had completed") && msg.contains("arch.lr"), "{msg}");
        run.epoch(&mut Quiet).unwrap();
        let msg = run.with_kept(hessian_divergence(probe_error(), 1)).to_string();
        assert!(msg.contains("at epoch 2") && msg.contains("(epoch 1) is kept in"), "{msg}");
        assert!(msg.contains("last.safetensors"), "{msg}");
    }

    #[test]
    fn darts_es_stops_and_returns_the_stop_epochs_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = tiny(&["optim.epochs=12"]);
        cfg.decision = DecisionConfig::Argmax(ArgmaxConfig {});
        cfg.early_stop = Some(LambdaRule { window: 3, delta: 4, factor: 0.5, start_epoch: 0 });
        cfg.validate().unwrap();
        let out = Search::new(dir.path(), SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut Quiet).unwrap();
        let stop = out.stop_epoch.expect("factor 0.5 makes DARTS-ES fire");
        let last = out.trace.last().unwrap();
        assert!(last.event.as_deref().unwrap().contains("DARTS-ES"));
        assert!(out.trace.len() < 12);
        let rec = out.trace.iter().find(|e| e.epoch == stop).unwrap();
        assert_eq!(out.architecture.reference_string(), rec.genotype, "the stop epoch's architecture is returned");
    }

    /// Keeps the messages a run reports.
    struct Messages(Vec<String>);
    impl Progress<SearchEpoch> for Messages {
        fn message(&mut self, m: &str) {
            self.0.push(m.to_string());
        }
    }

    /// Rewrites the metadata of a checkpoint in place.
    fn edit_meta(path: &Path, edit: impl FnOnce(&mut std::collections::BTreeMap<String, String>)) {
        let (tensors, mut meta) = crate::checkpoint::load(path).unwrap();
        edit(&mut meta);
        let tensors: Vec<(String, tch::Tensor)> = tensors.into_iter().collect();
        crate::checkpoint::save(path, &tensors, &meta).unwrap();
    }

    #[test]
    fn a_corrupt_or_incomplete_checkpoint_is_refused_naming_the_key_and_cause() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("r");
        let cfg = tiny(&["optim.epochs=3", "decision.frequency=7"]);
        let err = Search::new(&run, SearchStart::Fresh(Box::new(cfg))).unwrap().run(&mut StopAfter(1)).err().unwrap();
        assert!(matches!(err, SearchError::Interrupted { .. }), "{err}");
        let last = RunFiles::search(&run).last();
        let good = std::fs::read(&last).unwrap();
        let resume = || Search::new(&run, SearchStart::Resume).unwrap().run(&mut Quiet);

        // A state that does not parse: the error names the key and serde's reason, not "no state".
        edit_meta(&last, |m| {
            let s = m.get_mut(super::super::state::SEARCH_STATE).unwrap();
            *s = s.replacen("\"next_epoch\":1", "\"next_epoch\":\"one\"", 1);
        });
        let e = resume().err().unwrap().to_string();
        assert!(e.contains("oxnas.search_state") && e.contains("invalid type"), "{e}");

        // Lost optimiser state is refused, unless the user asks for a fresh optimiser.
        std::fs::write(&last, &good).unwrap();
        let (tensors, meta) = crate::checkpoint::load(&last).unwrap();
        let listed = meta[crate::checkpoint::OPTIMIZER_KEYS].clone();
        let lost: String = serde_json::from_str::<Vec<String>>(&listed).unwrap()[0].clone();
        let kept: Vec<(String, tch::Tensor)> = tensors.into_iter().filter(|(k, _)| *k != lost).collect();
        crate::checkpoint::save(&last, &kept, &meta).unwrap();
        let e = resume().err().unwrap().to_string();
        assert!(e.contains("--reset-optimizer") && e.contains(&lost), "{e}");
        let mut search = Search::new(&run, SearchStart::Resume).unwrap();
        search.reset_optimizer = true;
        let mut said = Messages(vec![]);
        let out = search.run(&mut said).unwrap();
        assert!(said.0.iter().any(|m| m == crate::run::RESET_NOTICE), "{:?}", said.0);
        assert_eq!(out.trace.len(), 3, "the reset resume completes the run");
    }
}
