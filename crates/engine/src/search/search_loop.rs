//! The one bilevel search loop. DARTS, SGAS, DARTS-ES and SGAS-es are combinations of pluggable
//! pieces on it, named in presets: a decision policy (argmax at the end / SGAS on a schedule /
//! SGAS-es phases), a stop rule, and a Hessian probe.
//!
//! End of every epoch: λmax (when a rule needs it or for diagnostics) → the epoch's own checkpoint
//! (the rollback target of SGAS-es) → the policy's action (continue, decide with or without rollback,
//! stop) → the continuation checkpoint `last`. Resume loads `last`; rollback loads an epoch checkpoint.
//! Every random draw (data order, augmentation, α batches) is keyed by a monotonic iteration counter,
//! so an epoch re-run after a rollback sees fresh batches, as in the reference, and any run repeats
//! exactly from the same seed.

use super::architect::{cross_entropy, Architect, Order};
use super::hessian::{HessianError, HessianMode, HessianProbe};
use super::{DartsSupernet, DartsSupernetConfig, EdgeState, Nb201Supernet, Nb201SupernetConfig, Supernet};
use crate::checkpoint::{self, CheckpointError};
use crate::progress::Progress;
use crate::rundir::RunFiles;
use crate::train::optim::{clip_grads, cosine_lr, AdamConfig, Sgd, SgdConfig};
use crate::train::trainer::{load_data, stream_seed, to_tensors, TrainError};
use crate::train::Architecture;
use crate::{DeviceChoice, EngineError};
use oxnas_core::config::{
    ConfigFile, DecisionPolicy, HessianModeName, SearchConfig, Space, StepOrder, StopRule as StopRuleName,
};
use oxnas_core::darts::{DartsOp, OpSet};
use oxnas_core::data::{split_by_portion, DataError, Loader};
use oxnas_core::fsutil::write_atomic;
use oxnas_core::nb201::Nb201Op;
use oxnas_core::search::{
    derive_darts, derive_nb201, sgas, softmax_rows, Criterion, EarlyStopConfig, PhaseAction, PhaseConfig,
    PhaseController, PhaseError, SgasCellState, SgasError, SgasSchedule, StopRule,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SearchError {
    #[error(transparent)]
    Train(#[from] TrainError),
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
    #[error("SGAS: {0}")]
    Sgas(#[from] SgasError),
    #[error("phase controller: {0}")]
    Phase(#[from] PhaseError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("search diverged: the loss became {value} at epoch {epoch}, step {step}. The last checkpoint (before this epoch) is kept; lower optim.lr or arch.lr, or set optim.grad_clip")]
    Diverged { epoch: usize, step: usize, value: f64 },
    #[error("stopped after epoch {epoch}; continue with --resume")]
    Interrupted { epoch: usize },
    #[error("cannot resume from {dir}: {why}")]
    Resume { dir: String, why: String },
    #[error(transparent)]
    RunDir(#[from] crate::rundir::RunDirError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SearchError + '_ {
    move |source| SearchError::Io { path: path.display().to_string(), source }
}

/// α of one cell type at the end of an epoch: raw values and their per-edge softmax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellAlphas {
    pub cell: String,
    pub alpha: Vec<Vec<f64>>,
    pub probs: Vec<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub cell: String,
    pub edge: usize,
    pub op: String,
    pub score: f64,
    pub pruned: Vec<usize>,
}

/// One executed epoch of the search, as `search.jsonl` records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEpoch {
    /// Counts every executed epoch, rolled-back ones included.
    pub iteration: usize,
    pub epoch: usize,
    /// Decisions made before this epoch (the SGAS/SGAS-es phase).
    pub phase: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub train_loss: f64,
    pub train_acc: f64,
    pub valid_loss: f64,
    pub valid_acc: f64,
    pub lambda_max: Option<f64>,
    pub hessian_s: Option<f64>,
    /// Edges (of all cells) whose strongest op, or decided op, is skip_connect: the collapse signal.
    pub skip_count: usize,
    pub alphas: Vec<CellAlphas>,
    /// The architecture as it stands (decided edges, the rest by argmax).
    pub genotype: String,
    pub decisions: Vec<DecisionRecord>,
    /// What the policy did at the end of this epoch, if anything.
    pub event: Option<String>,
    /// Set when a later rollback undid this epoch.
    pub rolled_back: bool,
    pub epoch_time_s: f64,
    pub images_per_s: f64,
}

/// Everything besides tensors that a continuation needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SearchState {
    next_epoch: usize,
    iteration: usize,
    batch_size: usize,
    decision_epochs: usize,
    sgas: Vec<SgasCellState>,
    controller: Option<PhaseController>,
    edge_states: Vec<Vec<EdgeState>>,
    trace: Vec<SearchEpoch>,
    finished: bool,
    stop_epoch: Option<usize>,
}

/// What an epoch checkpoint (a rollback target) carries besides tensors.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct EpochState {
    epoch: usize,
    batch_size: usize,
    sgas: Vec<SgasCellState>,
}

pub struct SearchOutcome {
    pub architecture: Architecture,
    pub trace: Vec<SearchEpoch>,
    pub stop_epoch: Option<usize>,
    pub device: Device,
}

/// The space-specific bits the loop needs: column names, derivation, skip index.
struct SpaceInfo {
    space: Space,
    ops: Option<OpSet>,
    steps: usize,
}

impl SpaceInfo {
    fn op_name(&self, col: usize) -> String {
        match &self.ops {
            Some(set) => set.get(col).map(|o| o.name().to_string()).unwrap_or_default(),
            None => Nb201Op::ALL[col].name().to_string(),
        }
    }

    fn skip_column(&self) -> Option<usize> {
        match &self.ops {
            Some(set) => set.index_of(DartsOp::SkipConnect),
            None => Some(Nb201Op::SkipConnect as usize),
        }
    }

    /// DARTS/NB201 argmax derivation from raw α.
    fn derive(&self, cells: &[CellAlphas]) -> Result<Architecture, SearchError> {
        let err = |e: String| SearchError::Engine(EngineError::Config(format!("deriving the genotype: {e}")));
        match &self.ops {
            None => Ok(Architecture::Nb201(derive_nb201(&cells[0].alpha).map_err(|e| err(e.to_string()))?)),
            Some(set) => Ok(Architecture::Darts(
                derive_darts(&cells[0].alpha, &cells[1].alpha, set, self.steps).map_err(|e| err(e.to_string()))?,
            )),
        }
    }

    /// The architecture from SGAS decisions, undecided edges filled the way SGAS logs them.
    fn from_sgas(&self, sgas: &[SgasCellState], cells: &[CellAlphas]) -> Result<Architecture, SearchError> {
        match &self.ops {
            None => Ok(Architecture::Nb201(sgas[0].nb201_arch_force(&cells[0].probs)?)),
            Some(set) => Ok(Architecture::Darts(sgas::genotype_force(
                &sgas[0],
                &cells[0].probs,
                &sgas[1],
                &cells[1].probs,
                set,
            )?)),
        }
    }
}

pub struct Search {
    pub cfg: SearchConfig,
    pub files: RunFiles,
    resume: bool,
}

pub enum SearchStart {
    Fresh(Box<SearchConfig>),
    Resume,
}

impl Search {
    pub fn new(dir: &Path, start: SearchStart) -> Result<Self, SearchError> {
        let files = RunFiles::search(dir);
        match start {
            SearchStart::Fresh(cfg) => {
                crate::rundir::create(dir, &files.last(), &["checkpoints/epochs"], cfg.as_ref(), "search")?;
                Ok(Search { cfg: *cfg, files, resume: false })
            }
            SearchStart::Resume => Ok(Search { cfg: crate::rundir::open(dir, "search")?, files, resume: true }),
        }
    }

    pub fn run(&self, progress: &mut dyn Progress<SearchEpoch>) -> Result<SearchOutcome, SearchError> {
        let cfg = &self.cfg;
        let device = cfg.run.device.parse::<DeviceChoice>()?.resolve()?;
        if cfg.run.threads > 0 {
            tch::set_num_threads(cfg.run.threads as i32);
        }
        let data = load_data(&cfg.data)?;
        let (train_idx, valid_idx) = split_by_portion(data.train.len(), cfg.split.train_portion);
        progress.message(&format!(
            "data: {} from {} ({} images train w, {} images train α)",
            data.kind,
            data.source,
            train_idx.len(),
            valid_idx.len()
        ));
        let num_classes = data.kind.num_classes() as i64;
        let in_channels = data.train.channels as i64;
        let s = &cfg.supernet;
        tch::manual_seed(cfg.run.seed as i64);
        let (mut net, info): (Box<dyn Supernet>, SpaceInfo) = match s.space {
            Space::Nb201 => (
                Box::new(Nb201Supernet::new(
                    &Nb201SupernetConfig {
                        channels: s.channels,
                        cells_per_stage: s.cells_per_stage,
                        num_classes,
                        in_channels,
                        track_running_stats: s.track_running_stats,
                    },
                    device,
                )),
                SpaceInfo { space: Space::Nb201, ops: None, steps: 3 },
            ),
            Space::Darts => {
                let ops = s.op_set()?;
                (
                    Box::new(DartsSupernet::new(
                        &DartsSupernetConfig {
                            channels: s.channels,
                            layers: s.layers,
                            steps: s.steps,
                            num_classes,
                            in_channels,
                            ops: ops.clone(),
                        },
                        device,
                    )),
                    SpaceInfo { space: Space::Darts, ops: Some(ops), steps: s.steps },
                )
            }
        };
        let o = &cfg.optim;
        let mut w_opt = Sgd::new(
            SgdConfig { lr: o.lr, momentum: o.momentum, weight_decay: o.weight_decay, nesterov: o.nesterov },
            net.trainable_weights(),
        );
        let a = &cfg.arch;
        let rows: usize = net.arch().iter().map(|c| c.alphas.len()).sum();
        let order = if a.order == "second" { Order::Second } else { Order::First };
        let mut architect = Architect::new(
            AdamConfig { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: 1e-8, weight_decay: a.weight_decay },
            rows,
            order,
        );
        let criterion = if cfg.decision.criterion == 2 { Criterion::Cri2 } else { Criterion::Cri1 };

        let mut state = if self.resume {
            self.restore_last(net.as_mut(), &mut w_opt, &mut architect, device)?
        } else {
            self.fresh_state(net.as_ref(), &info)?
        };
        if self.resume {
            progress
                .message(&format!("resumed at epoch {} ({} decisions made)", state.next_epoch, state.decision_epochs));
        }

        let mut train_loader = Loader::shuffled(
            data.train.clone(),
            train_idx,
            state.batch_size,
            cfg.data.train_transform.resolve()?,
            cfg.run.seed,
        )?;
        let mut valid_loader = Loader::shuffled(
            data.train.clone(),
            valid_idx.clone(),
            state.batch_size,
            cfg.data.eval_transform.resolve()?,
            cfg.run.seed,
        )?;
        let eval_idx: Vec<usize> = match cfg.split.valid_eval_limit {
            0 => valid_idx,
            n => valid_idx.into_iter().take(n).collect(),
        };
        let eval_loader = Loader::in_order(
            data.train.clone(),
            eval_idx,
            cfg.run.eval_batch_size,
            cfg.data.eval_transform.resolve()?,
            cfg.run.seed,
        )?;
        let probe = HessianProbe::new(a.weight_decay)?;
        let hessian_mode = match cfg.hessian.mode {
            HessianModeName::Full => Some(HessianMode::Full),
            HessianModeName::Lanczos => Some(HessianMode::Lanczos {
                iters: cfg.hessian.lanczos_iters,
                tol: cfg.hessian.lanczos_tol,
                seed: cfg.run.seed,
            }),
            HessianModeName::Off => None,
        };

        while !state.finished {
            let epoch = state.next_epoch;
            let total = state.controller.as_ref().map(|c| c.epochs()).unwrap_or(o.epochs);
            let lr = cosine_lr(o.lr, o.lr_min, epoch, o.epochs);
            let it = state.iteration;
            let started = Instant::now();
            progress.epoch_start(epoch, total, train_loader.num_batches());
            let (mut loss_sum, mut correct, mut seen) = (0.0, 0i64, 0usize);
            let mut last_valid: Option<(Tensor, Tensor)> = None;
            let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.run.seed, it, 0, 2));
            for (step, batch) in train_loader.epoch(it as u64).enumerate() {
                let (x, y) = to_tensors(&batch, device);
                let (xv, yv) = to_tensors(&valid_loader.sample_batch(&mut rng), device);
                if a.step_order == StepOrder::AlphaFirst {
                    architect.step(net.as_ref(), (&x, &y), (&xv, &yv), lr, &w_opt);
                }
                let logits = net.forward_t(&x, true);
                let loss = cross_entropy(&logits, &y);
                let value = loss.double_value(&[]);
                if !value.is_finite() {
                    return Err(SearchError::Diverged { epoch, step, value });
                }
                let grads = w_opt.grads(&loss);
                if o.grad_clip > 0.0 {
                    clip_grads(&grads, o.grad_clip);
                }
                w_opt.step_with(&grads, lr);
                if a.step_order == StepOrder::WeightsFirst {
                    architect.step(net.as_ref(), (&x, &y), (&xv, &yv), lr, &w_opt);
                }
                loss_sum += value * batch.batch as f64;
                correct += logits.argmax(1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]);
                seen += batch.batch;
                last_valid = Some((xv, yv));
                progress.batch(step + 1, value);
            }
            let train_time = started.elapsed().as_secs_f64();
            let (valid_loss, valid_acc) = evaluate_supernet(net.as_ref(), &eval_loader, device);
            let cells = alphas_of(net.as_ref());

            // λmax of the validation loss w.r.t. the undecided α, on the epoch's last α batch.
            let wanted = match &state.controller {
                Some(c) => c.needs_hessian(epoch),
                None => hessian_mode.is_some() && (epoch % cfg.hessian.every == 0 || epoch + 1 == total),
            };
            let mut hessian = None;
            if let (true, Some(mode), Some((xv, yv))) = (wanted, hessian_mode, last_valid.as_ref()) {
                let alphas = net.trainable_alphas();
                if !alphas.is_empty() {
                    let net_ref = net.as_ref();
                    let mut loss_fn = || cross_entropy(&net_ref.forward_t(xv, true), yv);
                    let report = probe.lambda_max(&mut loss_fn, &alphas, mode)?;
                    hessian = Some((report.lambda_max, report.seconds));
                }
            }

            let mut record = SearchEpoch {
                iteration: it,
                epoch,
                phase: state.decision_epochs,
                lr,
                batch_size: state.batch_size,
                train_loss: loss_sum / seen.max(1) as f64,
                train_acc: 100.0 * correct as f64 / seen.max(1) as f64,
                valid_loss,
                valid_acc,
                lambda_max: hessian.map(|h| h.0),
                hessian_s: hessian.map(|h| h.1),
                skip_count: skip_count(&cells, &state.edge_states, &info),
                alphas: vec![],
                genotype: String::new(),
                decisions: vec![],
                event: None,
                rolled_back: false,
                epoch_time_s: 0.0,
                images_per_s: seen as f64 / train_time.max(1e-9),
            };

            // The rollback target: the state after this epoch's training, before any decision.
            if cfg.decision.policy == DecisionPolicy::SgasEs {
                let es = EpochState { epoch, batch_size: state.batch_size, sgas: state.sgas.clone() };
                self.save(
                    &self.files.epoch(epoch),
                    net.as_ref(),
                    &w_opt,
                    &architect,
                    "oxnas.epoch_state",
                    &serde_json::to_string(&es).expect("json"),
                )?;
            }

            let mut decided_cells: Option<Vec<CellAlphas>> = None;
            match cfg.decision.policy {
                DecisionPolicy::Argmax => {
                    let action = match state.controller.as_mut() {
                        Some(c) => {
                            c.end_of_epoch(epoch, if c.needs_hessian(epoch) { record.lambda_max } else { None })?
                        }
                        None if epoch + 1 >= o.epochs => PhaseAction::Finished,
                        None => PhaseAction::Continue,
                    };
                    match action {
                        PhaseAction::Stop { stop_epoch } => {
                            record.event = Some(format!(
                                "DARTS-ES stop: λmax local average rose; architecture of epoch {stop_epoch}"
                            ));
                            state.stop_epoch = Some(stop_epoch);
                            state.finished = true;
                        }
                        PhaseAction::Finished => state.finished = true,
                        _ => {}
                    }
                }
                DecisionPolicy::Sgas => {
                    let schedule = SgasSchedule::new(
                        cfg.decision.warmup_epochs,
                        cfg.decision.frequency,
                        cfg.optim.batch_size,
                        cfg.decision.batch_increase,
                        cfg.decision.post_train,
                    )?;
                    let any = state.sgas.iter().any(|s| !s.is_done());
                    let decide = schedule.is_decision_epoch(epoch, any);
                    record.decisions = self.observe(&mut state, net.as_mut(), &cells, criterion, decide, &info)?;
                    if decide {
                        state.decision_epochs += 1;
                        state.batch_size = schedule.batch_size_after(state.decision_epochs);
                        record.event = Some(format!("SGAS decision {}", state.decision_epochs));
                    }
                    if epoch + 1 >= o.epochs {
                        state.finished = true;
                    }
                }
                DecisionPolicy::SgasEs => {
                    let c = state.controller.as_mut().expect("SGAS-es runs a phase controller");
                    let lambda = if c.needs_hessian(epoch) { record.lambda_max } else { None };
                    match c.end_of_epoch(epoch, lambda)? {
                        PhaseAction::Continue => {
                            self.observe(&mut state, net.as_mut(), &cells, criterion, false, &info)?;
                        }
                        PhaseAction::Decide { rollback_to, early } => {
                            let at = if rollback_to != epoch {
                                self.rollback(
                                    rollback_to,
                                    net.as_mut(),
                                    &mut w_opt,
                                    &mut architect,
                                    &mut state,
                                    device,
                                )?;
                                record.event = Some(format!("early stop: λmax local average rose by > {}; rolled back to epoch {rollback_to} and decided there", cfg.early_stop.factor));
                                alphas_of(net.as_ref())
                            } else {
                                record.event = Some(if early {
                                    "early stop: decided at this epoch".to_string()
                                } else {
                                    format!("phase reached {} epochs: forced decision", cfg.decision.frequency)
                                });
                                cells.clone()
                            };
                            record.decisions = self.observe(&mut state, net.as_mut(), &at, criterion, true, &info)?;
                            state.decision_epochs += 1;
                            state.batch_size += cfg.decision.batch_increase;
                            let all = state.sgas.iter().all(|s| s.is_done());
                            state.controller.as_mut().expect("controller").after_decision(rollback_to, all)?;
                            state.next_epoch = rollback_to;
                            self.prune_epoch_checkpoints(rollback_to)?;
                            decided_cells = Some(at);
                        }
                        PhaseAction::Finished | PhaseAction::Stop { .. } => state.finished = true,
                    }
                }
            }

            let shown = decided_cells.as_deref().unwrap_or(&cells);
            record.genotype = match cfg.decision.policy {
                DecisionPolicy::Argmax => info.derive(shown)?.reference_string(),
                _ => info.from_sgas(&state.sgas, shown)?.reference_string(),
            };
            record.alphas = cells;
            record.epoch_time_s = started.elapsed().as_secs_f64();
            if decided_cells.is_some() {
                // next_epoch now holds the rollback target: the phase's later epochs were undone.
                let stop = state.next_epoch;
                for r in state.trace.iter_mut().filter(|r| r.phase == record.phase && r.epoch > stop) {
                    r.rolled_back = true;
                }
                record.rolled_back = record.epoch > stop;
            }
            state.trace.push(record.clone());
            state.next_epoch += 1;
            state.iteration += 1;
            if let Some(c) = &state.controller {
                if c.is_finished() && state.next_epoch >= c.epochs() {
                    state.finished = true;
                }
            }
            if train_loader.batch_size() != state.batch_size {
                train_loader.set_batch_size(state.batch_size)?;
                valid_loader.set_batch_size(state.batch_size)?;
            }
            state.edge_states = net.arch().iter().map(|c| c.states.clone()).collect();
            self.write_log(&state)?;
            self.save(
                &self.files.last(),
                net.as_ref(),
                &w_opt,
                &architect,
                "oxnas.search_state",
                &serde_json::to_string(&state).expect("json"),
            )?;
            progress.epoch_end(&record);
            if !state.finished && progress.interrupted() {
                return Err(SearchError::Interrupted { epoch });
            }
        }

        let architecture = match (cfg.decision.policy, state.stop_epoch) {
            (DecisionPolicy::Argmax, Some(stop)) => {
                let rec = state.trace.iter().rev().find(|r| r.epoch == stop).expect("the stop epoch was run");
                info.derive(&rec.alphas)?
            }
            (DecisionPolicy::Argmax, None) => info.derive(&alphas_of(net.as_ref()))?,
            _ => info.from_sgas(&state.sgas, &alphas_of(net.as_ref()))?,
        };
        let result = serde_json::json!({
            "space": match info.space { Space::Nb201 => "nb201", Space::Darts => "darts" },
            "genotype": architecture.reference_string(),
            "genotype_json": architecture.to_json(),
            "stop_epoch": state.stop_epoch,
            "epochs_run": state.trace.len(),
            "decisions": state.trace.iter().flat_map(|r| r.decisions.iter().map(move |d| serde_json::json!({"epoch": r.epoch, "cell": d.cell, "edge": d.edge, "op": d.op, "score": d.score, "pruned": d.pruned}))).collect::<Vec<_>>(),
            "seed": cfg.run.seed,
        });
        write_atomic(&self.files.result(), serde_json::to_string_pretty(&result).expect("json").as_bytes())
            .map_err(io_err(&self.files.result()))?;
        write_atomic(&self.files.dir.join("genotype.txt"), format!("{}\n", architecture.reference_string()).as_bytes())
            .map_err(io_err(&self.files.dir))?;
        write_atomic(
            &self.files.dir.join("genotype.json"),
            serde_json::to_string_pretty(&architecture.to_json()).expect("json").as_bytes(),
        )
        .map_err(io_err(&self.files.dir))?;
        Ok(SearchOutcome { architecture, trace: state.trace, stop_epoch: state.stop_epoch, device })
    }

    fn fresh_state(&self, net: &dyn Supernet, info: &SpaceInfo) -> Result<SearchState, SearchError> {
        let cfg = &self.cfg;
        let d = &cfg.decision;
        let sgas = match d.policy {
            DecisionPolicy::Argmax => vec![],
            _ => match &info.ops {
                None => vec![SgasCellState::nb201(d.history)?],
                Some(set) => vec![
                    SgasCellState::darts(set, info.steps, d.history)?,
                    SgasCellState::darts(set, info.steps, d.history)?,
                ],
            },
        };
        let e = &cfg.early_stop;
        let controller = match (d.policy, e.rule) {
            (DecisionPolicy::SgasEs, _) => Some(PhaseController::new(PhaseConfig {
                decision_freq: d.frequency,
                es_start: e.start_epoch,
                window: e.window,
                ev_freq: cfg.hessian.every,
                delta: e.delta,
                factor: e.factor,
                post_train: d.post_train,
                total_epochs: cfg.optim.epochs,
            })?),
            (DecisionPolicy::Argmax, StopRuleName::DartsEs) => {
                Some(PhaseController::early_stop_only(EarlyStopConfig {
                    window: e.window,
                    ev_freq: cfg.hessian.every,
                    rule: StopRule { factor: e.factor, es_start_epoch: e.start_epoch, delta: e.delta },
                    total_epochs: cfg.optim.epochs,
                })?)
            }
            _ => None,
        };
        Ok(SearchState {
            next_epoch: 0,
            iteration: 0,
            batch_size: cfg.optim.batch_size,
            decision_epochs: 0,
            sgas,
            controller,
            edge_states: net.arch().iter().map(|c| c.states.clone()).collect(),
            trace: vec![],
            finished: false,
            stop_epoch: None,
        })
    }

    /// Pushes this epoch's op distribution into each cell's SGAS history and, if asked, decides one
    /// edge per cell and applies the decision (and any pruning) to the supernet.
    fn observe(
        &self,
        state: &mut SearchState,
        net: &mut dyn Supernet,
        cells: &[CellAlphas],
        criterion: Criterion,
        decide: bool,
        info: &SpaceInfo,
    ) -> Result<Vec<DecisionRecord>, SearchError> {
        let mut out = vec![];
        for (k, sg) in state.sgas.iter_mut().enumerate() {
            let obs = sg.observe(&cells[k].probs, criterion, decide)?;
            if let Some(d) = obs.decision {
                let arch = &mut net.arch_mut()[k];
                arch.set_state(d.edge, EdgeState::Fixed(d.op));
                for &p in &d.pruned {
                    arch.set_state(p, EdgeState::Pruned);
                }
                out.push(DecisionRecord {
                    cell: cells[k].cell.clone(),
                    edge: d.edge,
                    op: info.op_name(d.op),
                    score: d.score,
                    pruned: d.pruned,
                });
            }
        }
        Ok(out)
    }

    fn tensors(net: &dyn Supernet, w_opt: &Sgd, architect: &Architect) -> Vec<(String, Tensor)> {
        let mut t: Vec<(String, Tensor)> =
            net.weights().variables().into_iter().map(|(k, v)| (format!("w.{k}"), v)).collect();
        for cell in net.arch() {
            for (e, a) in cell.alphas.iter().enumerate() {
                t.push((format!("alpha.{}.{e}", cell.name), a.detach()));
            }
        }
        t.extend(w_opt.state());
        t.extend(architect.adam.state("adam"));
        t
    }

    fn save(
        &self,
        path: &Path,
        net: &dyn Supernet,
        w_opt: &Sgd,
        architect: &Architect,
        key: &str,
        json: &str,
    ) -> Result<(), SearchError> {
        let mut meta = BTreeMap::new();
        meta.insert(key.to_string(), json.to_string());
        meta.insert("oxnas.config".to_string(), self.cfg.to_toml());
        checkpoint::save(path, &Self::tensors(net, w_opt, architect), &meta)?;
        Ok(())
    }

    fn load_tensors(
        path: &Path,
        net: &mut dyn Supernet,
        w_opt: &mut Sgd,
        architect: &mut Architect,
        device: Device,
    ) -> Result<BTreeMap<String, String>, SearchError> {
        let (tensors, meta) = checkpoint::load(path)?;
        let weights: BTreeMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("w.").map(|n| (n.to_string(), v.shallow_clone())))
            .collect();
        crate::nn::state_dict::import(net.weights(), &weights)
            .map_err(|e| SearchError::Resume { dir: path.display().to_string(), why: e.to_string() })?;
        tch::no_grad(|| {
            for cell in net.arch() {
                for (e, a) in cell.alphas.iter().enumerate() {
                    if let Some(v) = tensors.get(&format!("alpha.{}.{e}", cell.name)) {
                        let _ = a.shallow_clone().copy_(&v.to_device(device));
                    }
                }
            }
        });
        w_opt.load_state(&tensors);
        architect.adam.load_state("adam", &tensors, device);
        Ok(meta)
    }

    fn restore_last(
        &self,
        net: &mut dyn Supernet,
        w_opt: &mut Sgd,
        architect: &mut Architect,
        device: Device,
    ) -> Result<SearchState, SearchError> {
        let dir = self.files.dir.display().to_string();
        if !self.files.last().exists() {
            return Err(SearchError::Resume { dir, why: "no checkpoints/last.safetensors: the search never finished an epoch; start it again without --resume".into() });
        }
        let meta = Self::load_tensors(&self.files.last(), net, w_opt, architect, device)?;
        let state: SearchState =
            meta.get("oxnas.search_state").and_then(|s| serde_json::from_str(s).ok()).ok_or_else(|| {
                SearchError::Resume { dir: dir.clone(), why: "the checkpoint has no search state".into() }
            })?;
        for (cell, states) in net.arch_mut().iter_mut().zip(&state.edge_states) {
            for (e, s) in states.iter().enumerate() {
                cell.set_state(e, *s);
            }
        }
        Ok(state)
    }

    fn rollback(
        &self,
        epoch: usize,
        net: &mut dyn Supernet,
        w_opt: &mut Sgd,
        architect: &mut Architect,
        state: &mut SearchState,
        device: Device,
    ) -> Result<(), SearchError> {
        let meta = Self::load_tensors(&self.files.epoch(epoch), net, w_opt, architect, device)?;
        let es: EpochState =
            meta.get("oxnas.epoch_state").and_then(|s| serde_json::from_str(s).ok()).ok_or_else(|| {
                SearchError::Resume {
                    dir: self.files.dir.display().to_string(),
                    why: format!("epoch checkpoint {epoch} has no state"),
                }
            })?;
        state.sgas = es.sgas;
        state.batch_size = es.batch_size;
        Ok(())
    }

    /// Epoch checkpoints before the new phase can never be rollback targets again.
    fn prune_epoch_checkpoints(&self, keep_from: usize) -> Result<(), SearchError> {
        let dir = self.files.dir.join("checkpoints/epochs");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(n) = name.strip_suffix(".safetensors").and_then(|s| s.parse::<usize>().ok()) {
                    if n <= keep_from {
                        let _ = std::fs::remove_file(e.path());
                    }
                }
            }
        }
        Ok(())
    }

    fn write_log(&self, state: &SearchState) -> Result<(), SearchError> {
        let lines: String = state.trace.iter().map(|r| serde_json::to_string(r).expect("json") + "\n").collect();
        write_atomic(&self.files.log(), lines.as_bytes()).map_err(io_err(&self.files.log()))
    }
}

fn alphas_of(net: &dyn Supernet) -> Vec<CellAlphas> {
    net.arch()
        .iter()
        .map(|c| {
            let alpha = c.values();
            CellAlphas { cell: c.name.to_string(), probs: softmax_rows(&alpha), alpha }
        })
        .collect()
}

fn skip_count(cells: &[CellAlphas], states: &[Vec<EdgeState>], info: &SpaceInfo) -> usize {
    let Some(skip) = info.skip_column() else { return 0 };
    let none = match info.space {
        Space::Nb201 => None,
        Space::Darts => info.ops.as_ref().and_then(|s| s.index_of(DartsOp::None)),
    };
    cells
        .iter()
        .zip(states)
        .map(|(c, st)| {
            c.probs
                .iter()
                .zip(st)
                .filter(|(p, s)| match s {
                    EdgeState::Fixed(k) => *k == skip,
                    EdgeState::Pruned => false,
                    EdgeState::Mixed => {
                        // DARTS derivation ignores 'none'; NB201's argmax includes it.
                        let best =
                            p.iter().enumerate().filter(|(k, _)| Some(*k) != none).max_by(|a, b| a.1.total_cmp(b.1));
                        best.map(|(k, _)| k) == Some(skip)
                    }
                })
                .count()
        })
        .sum()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Quiet;

    /// A tiny SGAS-es search on NB201: 2 steps per epoch, phases of at most 7 epochs, and a λ rule with
    /// factor 0.5 so it fires at the first eligible epoch (a phase's 6th) and rolls back 5 epochs.
    fn tiny(extra: &[&str]) -> SearchConfig {
        let mut sets: Vec<String> = [
            "supernet.channels=2",
            "data.train_limit=128",
            "optim.batch_size=32",
            "split.valid_eval_limit=32",
            "run.eval_batch_size=32",
            "data.train_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
            "data.eval_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
            "decision.frequency=7",
            "decision.post_train=2",
            "early_stop.factor=0.5",
            "optim.epochs=44",
            "run.device=\"cpu\"",
            "run.threads=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sets.extend(extra.iter().map(|s| s.to_string()));
        SearchConfig::resolve("cpu-demo", None, &sets).unwrap()
    }

    fn strip(trace: &[SearchEpoch]) -> Vec<SearchEpoch> {
        trace
            .iter()
            .map(|e| SearchEpoch { epoch_time_s: 0.0, images_per_s: 0.0, hessian_s: None, ..e.clone() })
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

    struct StopAfter(usize);
    impl Progress<SearchEpoch> for StopAfter {
        fn interrupted(&mut self) -> bool {
            self.0 = self.0.saturating_sub(1);
            self.0 == 0
        }
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
        assert!(first.event.as_deref().unwrap().contains("rolled back to epoch 0"), "{:?}", first.event);
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

    #[test]
    fn darts_argmax_and_sgas_on_the_darts_space() {
        let dir = tempfile::tempdir().unwrap();
        let darts_space = [
            "supernet.space=\"darts\"",
            "supernet.layers=3",
            "supernet.ops=\"sgas-es\"",
            "supernet.steps=2",
            "hessian.mode=\"off\"",
            "decision.policy=\"argmax\"",
            "optim.epochs=2",
        ];
        let out = Search::new(&dir.path().join("d"), SearchStart::Fresh(Box::new(tiny(&darts_space))))
            .unwrap()
            .run(&mut Quiet)
            .unwrap();
        let Architecture::Darts(g) = &out.architecture else { panic!("darts space gives a genotype") };
        assert_eq!((g.normal.len(), g.reduce.len()), (4, 4));
        assert_eq!(out.trace.len(), 2);

        // SGAS on a 2-step DARTS cell: 4 decisions per cell (2 per node), in-degree pruning.
        let mut sgas: Vec<&str> = darts_space.to_vec();
        sgas.extend([
            "decision.policy=\"sgas\"",
            "decision.warmup_epochs=1",
            "decision.frequency=1",
            "optim.epochs=7",
            "decision.criterion=2",
        ]);
        let out = Search::new(&dir.path().join("s"), SearchStart::Fresh(Box::new(tiny(&sgas))))
            .unwrap()
            .run(&mut Quiet)
            .unwrap();
        let decided: usize = out.trace.iter().map(|e| e.decisions.len()).sum();
        assert_eq!(decided, 8, "2 cells x 2 nodes x 2 kept edges");
        let pruned: usize = out.trace.iter().flat_map(|e| e.decisions.iter().map(|d| d.pruned.len())).sum();
        assert_eq!(pruned, 2, "node 1 has 3 inputs: one is pruned in each cell");
    }

    #[test]
    fn darts_es_stops_and_returns_the_stop_epochs_architecture() {
        let dir = tempfile::tempdir().unwrap();
        let sets = [
            "decision.policy=\"argmax\"",
            "early_stop.rule=\"darts-es\"",
            "early_stop.window=3",
            "early_stop.start_epoch=0",
            "hessian.every=1",
            "optim.epochs=12",
        ];
        let out = Search::new(dir.path(), SearchStart::Fresh(Box::new(tiny(&sets)))).unwrap().run(&mut Quiet).unwrap();
        let stop = out.stop_epoch.expect("factor 0.5 makes DARTS-ES fire");
        let last = out.trace.last().unwrap();
        assert!(last.event.as_deref().unwrap().contains("DARTS-ES"));
        assert!(out.trace.len() < 12);
        let rec = out.trace.iter().find(|e| e.epoch == stop).unwrap();
        assert_eq!(out.architecture.reference_string(), rec.genotype, "the stop epoch's architecture is returned");
    }
}
