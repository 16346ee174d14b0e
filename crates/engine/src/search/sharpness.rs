//! `oxnas hessian`: the dominant eigenvalue (or the top of the spectrum) of ∇²_α L_val of a search
//! checkpoint, on the α batches the search itself drew for that epoch. With one batch and the run's
//! own mode it reproduces the λmax the search logged for the epoch the checkpoint holds (`last` is
//! refused when its epoch ended with a decision: it then holds another state).

use super::architect::cross_entropy;
use super::hessian::HessianProbe;
use super::image_workload::loaders;
use super::state::{load_weights_and_alphas, EpochState, SearchState, EPOCH_STATE, SEARCH_STATE};
use super::{build_supernet, ImageSupernet, SearchEpoch, SearchError, SecondOrderForm, Supernet};
use crate::checkpoint;
use crate::run::{stream_seed, to_tensors, Prelude, Stream};
use crate::rundir::RunFiles;
use crate::DeviceChoice;
use oxnas_core::config::{EigenMethod, SearchConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// Which checkpoint of a search directory: `last`, or `epoch-N` (an epoch checkpoint of an SGAS-es
/// run; those before the latest decision are deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointChoice {
    Last,
    Epoch(usize),
}

impl std::str::FromStr for CheckpointChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "last" {
            return Ok(CheckpointChoice::Last);
        }
        s.strip_prefix("epoch-")
            .and_then(|n| n.parse().ok())
            .map(CheckpointChoice::Epoch)
            .ok_or_else(|| format!("'{s}' is not a checkpoint; use 'last' or 'epoch-N' (N as in search.jsonl's epoch)"))
    }
}

pub struct SharpnessRequest {
    pub checkpoint: CheckpointChoice,
    /// α batches the loss is averaged over: the epoch's last `batches` ones.
    pub batches: usize,
    /// None: the run's own Hessian mode (full when the run had it off).
    pub method: Option<EigenMethod>,
    /// How many of the largest eigenvalues to report (more than one needs the full Hessian).
    pub top: usize,
    pub device: Option<DeviceChoice>,
    /// Compute in f64 (weights, buffers, α and images converted after loading the f32 checkpoint).
    pub double: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SharpnessReport {
    pub checkpoint: String,
    pub epoch: usize,
    pub iteration: usize,
    pub batches: usize,
    pub batch_size: usize,
    pub method: EigenMethod,
    /// "f32" as the search ran, or "f64" with `double`.
    pub precision: &'static str,
    /// Undecided α entries the Hessian is taken over.
    pub dim: usize,
    pub hvps: usize,
    pub seconds: f64,
    /// Largest first.
    pub eigenvalues: Vec<f64>,
    /// What search.jsonl logged for this iteration, if it computed λmax there.
    pub logged_lambda_max: Option<f64>,
}

/// Where in the run a checkpoint stands.
struct Position {
    path: PathBuf,
    epoch: usize,
    iteration: usize,
    batch_size: usize,
}

pub fn analyse(dir: &Path, req: &SharpnessRequest) -> Result<SharpnessReport, SearchError> {
    if req.batches == 0 || req.top == 0 {
        return Err(invalid("--batches and --top must be at least 1".into()));
    }
    let (cfg, _lock): (SearchConfig, _) = crate::rundir::open_shared(&RunFiles::search(dir))?;
    let mut run = cfg.run.clone();
    if let Some(d) = req.device {
        run.device = d.to_string();
    }
    let images = cfg.data.images().map_err(|_| {
        invalid("`oxnas hessian` re-probes image searches; a darts-rnn search logs λmax in search.jsonl every epoch the policy asks for it".into())
    })?;
    let Prelude { device, data } = Prelude::start(&run, images)?;
    tch::manual_seed(cfg.run.seed as i64);
    let mut net = build_supernet(&cfg.supernet, data.num_classes(), data.in_channels(), device)?;
    let pos = load_position(dir, req.checkpoint, net.as_mut(), device)?;
    let mut batches = alpha_batches(&cfg, &data, &pos, req.batches, device)?;
    if req.double {
        net.convert_to(Kind::Double);
        batches = batches.into_iter().map(|(x, y)| (x.to_kind(Kind::Double), y)).collect();
    }
    let method = req.method.or(cfg.hessian.method()).unwrap_or(EigenMethod::Full);
    let (eigenvalues, dim, hvps, seconds) = spectrum(&cfg, net.as_ref(), &batches, method, req.top)?;
    Ok(SharpnessReport {
        checkpoint: pos.path.display().to_string(),
        epoch: pos.epoch,
        iteration: pos.iteration,
        batches: batches.len(),
        batch_size: pos.batch_size,
        method,
        precision: if req.double { "f64" } else { "f32" },
        dim,
        hvps,
        seconds,
        eigenvalues,
        logged_lambda_max: logged_lambda(dir, pos.iteration),
    })
}

fn invalid(why: String) -> SearchError {
    SearchError::Invalid(why)
}

/// Loads the checkpoint's weights, α and edge states into `net`, and says where it stands.
fn load_position(
    dir: &Path,
    choice: CheckpointChoice,
    net: &mut dyn Supernet,
    device: Device,
) -> Result<Position, SearchError> {
    let files = RunFiles::search(dir);
    let path = match choice {
        CheckpointChoice::Last => files.last(),
        CheckpointChoice::Epoch(e) => files.epoch(e),
    };
    if !path.exists() {
        return Err(invalid(format!(
            "{} does not exist (epoch checkpoints before a decision are deleted; `ls {}` lists the ones kept)",
            path.display(),
            dir.join("checkpoints/epochs").display()
        )));
    }
    let (tensors, meta) = checkpoint::load(&path)?;
    load_weights_and_alphas(&path, net, &tensors, device)?;
    let (epoch, iteration, batch_size, edge_states) = match choice {
        CheckpointChoice::Epoch(_) => {
            let s: EpochState = checkpoint::state(&path, &meta, EPOCH_STATE, "search epoch")?;
            (s.epoch, s.iteration, s.batch_size, s.edge_states)
        }
        CheckpointChoice::Last => {
            let s: SearchState = checkpoint::state(&path, &meta, SEARCH_STATE, "search")?;
            let last = s.trace.last().ok_or_else(|| invalid("the checkpoint holds no executed epoch".into()))?;
            if !last.decisions.is_empty() {
                // `last` then holds the state after the decision (after a rollback, the rollback
                // target's), not the one λmax was logged for.
                return Err(invalid(format!(
                    "the last epoch ({}) ended with a decision, so checkpoints/last.safetensors is no longer the state its λmax was computed on; use --checkpoint epoch-N (see {})",
                    last.epoch,
                    dir.join("checkpoints/epochs").display()
                )));
            }
            (last.epoch, last.iteration, last.batch_size, s.edge_states)
        }
    };
    for (cell, states) in net.arch_mut().iter_mut().zip(&edge_states) {
        for (e, s) in states.iter().enumerate() {
            cell.set_state(e, *s);
        }
    }
    Ok(Position { path, epoch, iteration, batch_size })
}

/// The last `k` α batches of the epoch at `pos`, drawn from the same keyed stream as the search.
fn alpha_batches(
    cfg: &SearchConfig,
    data: &crate::run::RunData,
    pos: &Position,
    k: usize,
    device: Device,
) -> Result<Vec<(Tensor, Tensor)>, SearchError> {
    let l = loaders(cfg, data, pos.batch_size)?;
    let steps = l.train.num_batches();
    let mut rng = ChaCha8Rng::seed_from_u64(stream_seed(cfg.run.seed, pos.iteration, 0, Stream::AlphaBatches));
    let mut kept = std::collections::VecDeque::with_capacity(k);
    for _ in 0..steps {
        let batch = l.alpha.sample_batch(&mut rng);
        if kept.len() == k {
            kept.pop_front();
        }
        kept.push_back(batch);
    }
    Ok(kept.iter().map(|b| to_tensors(b, device)).collect())
}

/// (eigenvalues largest first, dimension, HVPs, seconds) of the mean α-batch loss.
fn spectrum(
    cfg: &SearchConfig,
    net: &dyn ImageSupernet,
    batches: &[(Tensor, Tensor)],
    method: EigenMethod,
    top: usize,
) -> Result<(Vec<f64>, usize, usize, f64), SearchError> {
    let alphas = net.trainable_alphas();
    let probe = HessianProbe::new(cfg.arch.weight_decay)?;
    let _form = SecondOrderForm::enter(net);
    // One batch: exactly the search's loss expression, so the logged value is reproduced.
    let mut loss_fn = || {
        let losses: Vec<Tensor> = batches.iter().map(|(x, y)| cross_entropy(&net.forward_t(x, true), y)).collect();
        match losses.len() {
            1 => losses[0].shallow_clone(),
            n => Tensor::stack(&losses, 0).sum(None::<tch::Kind>) / n as f64,
        }
    };
    if alphas.is_empty() {
        return Err(SearchError::Hessian(super::hessian::HessianError::InvalidSetting(
            "every edge of this checkpoint is decided, so no α is left to take the Hessian over; pick an epoch \
             checkpoint from before the last decision (--checkpoint epoch-N, see checkpoints/epochs/)"
                .into(),
        )));
    }
    if top == 1 {
        let r = probe.lambda_max(&mut loss_fn, &alphas, method, cfg.run.seed)?;
        return Ok((vec![r.lambda_max], r.dim, r.hvps, r.seconds));
    }
    if method != EigenMethod::Full {
        return Err(SearchError::Hessian(super::hessian::HessianError::InvalidSetting(
            "--top above 1 needs the whole spectrum: use --mode full".into(),
        )));
    }
    let started = Instant::now();
    let h = probe.full_hessian(&mut loss_fn, &alphas)?;
    let mut eig = Vec::<f64>::try_from(&h.f_linalg_eigvalsh("L").map_err(super::hessian::HessianError::from)?)
        .map_err(super::hessian::HessianError::from)?;
    eig.reverse();
    eig.truncate(top);
    let dim = h.size()[0] as usize;
    Ok((eig, dim, dim, started.elapsed().as_secs_f64()))
}

/// λmax that search.jsonl logged at `iteration`, if any.
fn logged_lambda(dir: &Path, iteration: usize) -> Option<f64> {
    let text = std::fs::read_to_string(RunFiles::search(dir).log()).ok()?;
    text.lines()
        .filter_map(|l| serde_json::from_str::<SearchEpoch>(l).ok())
        .find(|r| r.iteration == iteration)
        .and_then(|r| r.lambda_max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::test_support::{tiny, StopAfter};
    use crate::search::{Search, SearchStart};

    fn request(checkpoint: CheckpointChoice) -> SharpnessRequest {
        SharpnessRequest {
            checkpoint,
            batches: 1,
            method: None,
            top: 1,
            device: Some(DeviceChoice::Cpu),
            double: false,
        }
    }

    #[test]
    fn the_checkpoint_lambda_equals_what_the_search_logged() {
        let dir = tempfile::tempdir().unwrap();
        let err = Search::new(dir.path(), SearchStart::Fresh(Box::new(tiny(&[])))).unwrap().run(&mut StopAfter(3));
        assert!(matches!(err, Err(SearchError::Interrupted { .. })));
        let log = std::fs::read_to_string(dir.path().join("search.jsonl")).unwrap();
        let trace: Vec<SearchEpoch> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        for (choice, record) in [
            (CheckpointChoice::Epoch(1), &trace[1]),
            (CheckpointChoice::Epoch(2), &trace[2]),
            (CheckpointChoice::Last, &trace[2]),
        ] {
            let r = analyse(dir.path(), &request(choice)).unwrap();
            let logged = record.lambda_max.expect("SGAS-es logs λmax every epoch");
            assert_eq!((r.epoch, r.iteration), (record.epoch, record.iteration), "{choice:?}");
            assert_eq!(r.logged_lambda_max, Some(logged));
            let rel = (r.eigenvalues[0] - logged).abs() / logged.abs();
            assert!(rel < 1e-9, "{choice:?}: {} vs logged {logged}", r.eigenvalues[0]);
            assert_eq!(r.hvps, r.dim, "full mode: one HVP per row");
        }
        // The top of the spectrum, largest first, led by λmax; more batches give another value.
        let top = analyse(dir.path(), &SharpnessRequest { top: 3, ..request(CheckpointChoice::Epoch(2)) }).unwrap();
        assert_eq!(top.eigenvalues.len(), 3);
        assert!(top.eigenvalues.windows(2).all(|w| w[0] >= w[1]), "{:?}", top.eigenvalues);
        assert!((top.eigenvalues[0] - trace[2].lambda_max.unwrap()).abs() < 1e-9 * top.eigenvalues[0].abs());
        let two = analyse(dir.path(), &SharpnessRequest { batches: 2, ..request(CheckpointChoice::Epoch(2)) }).unwrap();
        assert_ne!(two.eigenvalues[0], top.eigenvalues[0]);
        // Bad requests are named errors.
        let e = analyse(dir.path(), &request(CheckpointChoice::Epoch(40))).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");
        let lanczos = Some(EigenMethod::Lanczos { iters: 10, tol: 1e-6 });
        let e = analyse(dir.path(), &SharpnessRequest { top: 2, method: lanczos, ..request(CheckpointChoice::Last) })
            .unwrap_err()
            .to_string();
        assert!(e.contains("--mode full"), "{e}");
        // In f64 the same state gives the same λmax up to f32 rounding, and says so.
        let f64_req = SharpnessRequest { double: true, ..request(CheckpointChoice::Epoch(2)) };
        let double = analyse(dir.path(), &f64_req).unwrap();
        assert_eq!((double.precision, top.precision), ("f64", "f32"));
        let rel = (double.eigenvalues[0] - top.eigenvalues[0]).abs() / top.eigenvalues[0].abs();
        assert!(
            rel < 1e-3 && double.eigenvalues[0] != top.eigenvalues[0],
            "f64 {} vs f32 {}",
            double.eigenvalues[0],
            top.eigenvalues[0]
        );
        assert_eq!("epoch-7".parse::<CheckpointChoice>(), Ok(CheckpointChoice::Epoch(7)));
        assert!("epoch7".parse::<CheckpointChoice>().unwrap_err().contains("epoch-N"));
    }
}
