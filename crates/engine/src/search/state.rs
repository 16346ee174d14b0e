//! What a search checkpoint holds and how it is written and read back: tensors (weights w, α,
//! both optimisers) plus the loop state and the policy's state as JSON metadata. `last` continues
//! a run; an epoch checkpoint is a rollback target for policies that roll back.

use super::workload::Trainee;
use super::{EdgeState, SearchEpoch, SearchError, Supernet};
use crate::checkpoint::{self, OptimizerState};
use crate::rundir::RunFiles;
use oxnas_core::fsutil::write_atomic;
use oxnas_core::search::AnyPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Tensor};

/// Metadata key of the continuation state in `last`.
pub const SEARCH_STATE: &str = "oxnas.search_state";
/// Metadata key of the policy snapshot in an epoch checkpoint.
pub const EPOCH_STATE: &str = "oxnas.epoch_state";

/// Everything besides tensors that a continuation needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchState {
    pub next_epoch: usize,
    pub iteration: usize,
    pub policy: AnyPolicy,
    pub edge_states: Vec<Vec<EdgeState>>,
    pub trace: Vec<SearchEpoch>,
    pub finished: bool,
    /// The last λmax probe's eigenvector, for a warm-started Lanczos (`hessian.warm_start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eigvec: Option<EdgeVector>,
}

/// A vector over the undecided α, kept by edge (cell, edge index), so that it still applies after
/// edges have been decided: their entries are dropped, the others keep their places.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeVector {
    pub edges: Vec<(usize, usize, Vec<f64>)>,
}

/// What an epoch checkpoint carries besides tensors: enough to restore the policy on a rollback,
/// and to find the α batches the epoch's λmax was computed on (`oxnas hessian`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochState {
    pub epoch: usize,
    pub iteration: usize,
    pub batch_size: usize,
    pub edge_states: Vec<Vec<EdgeState>>,
    pub policy: serde_json::Value,
}

/// Reads and writes one search directory's checkpoints.
pub struct Checkpoints<'a> {
    pub files: &'a RunFiles,
    pub config_toml: String,
    pub device: Device,
    pub reset_optimizer: bool,
}

impl Checkpoints<'_> {
    pub fn save_last<N: Supernet + ?Sized>(&self, t: &Trainee<N>, state: &SearchState) -> Result<(), SearchError> {
        let json = serde_json::to_string(state).expect("search state serialises");
        self.save(&self.files.last(), t, SEARCH_STATE, json)
    }

    pub fn save_epoch<N: Supernet + ?Sized>(&self, t: &Trainee<N>, state: &EpochState) -> Result<(), SearchError> {
        let json = serde_json::to_string(state).expect("epoch state serialises");
        let epoch = state.epoch;
        self.save(&self.files.epoch(epoch), t, EPOCH_STATE, json)
    }

    /// Loads `last` into `t` and returns the loop state (edge states applied to the supernet) and
    /// whether the optimiser state was loaded or reset.
    pub fn restore_last<N: Supernet + ?Sized>(
        &self,
        t: &mut Trainee<N>,
    ) -> Result<(SearchState, OptimizerState), SearchError> {
        let path = self.files.last();
        if !path.exists() {
            return Err(SearchError::Resume {
                dir: self.files.dir.display().to_string(),
                why: "no checkpoints/last.safetensors: the search never finished an epoch; start it again without --resume"
                    .into(),
            });
        }
        let (meta, optimizer) = self.load(&path, t, self.reset_optimizer)?;
        let state: SearchState = checkpoint::state(&path, &meta, SEARCH_STATE, "search")?;
        for (cell, states) in t.net.arch_mut().iter_mut().zip(&state.edge_states) {
            for (e, s) in states.iter().enumerate() {
                cell.set_state(e, *s);
            }
        }
        Ok((state, optimizer))
    }

    /// Loads the checkpoint of `epoch` into `t`; returns the policy snapshot saved with it.
    pub fn restore_epoch<N: Supernet + ?Sized>(
        &self,
        t: &mut Trainee<N>,
        epoch: usize,
    ) -> Result<serde_json::Value, SearchError> {
        let path = self.files.epoch(epoch);
        // A rollback target always has its optimiser state: it was written by this run.
        let (meta, _) = self.load(&path, t, false)?;
        let es: EpochState = checkpoint::state(&path, &meta, EPOCH_STATE, "search epoch")?;
        Ok(es.policy)
    }

    /// Epoch checkpoints up to `keep_after` can never be rollback targets again.
    pub fn prune_epochs(&self, keep_after: usize) -> Result<(), SearchError> {
        let dir = self.files.dir.join("checkpoints/epochs");
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(()) };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let epoch = name.strip_suffix(".safetensors").and_then(|s| s.parse::<usize>().ok());
            if epoch.is_some_and(|n| n <= keep_after) {
                std::fs::remove_file(e.path())
                    .map_err(|source| SearchError::Io { path: e.path().display().to_string(), source })?;
            }
        }
        Ok(())
    }

    pub fn write_log(&self, trace: &[SearchEpoch]) -> Result<(), SearchError> {
        let lines: String = trace.iter().map(|r| serde_json::to_string(r).expect("record serialises") + "\n").collect();
        let path = self.files.log();
        write_atomic(&path, lines.as_bytes())
            .map_err(|source| SearchError::Io { path: path.display().to_string(), source })
    }

    fn save<N: Supernet + ?Sized>(
        &self,
        path: &Path,
        t: &Trainee<N>,
        key: &str,
        json: String,
    ) -> Result<(), SearchError> {
        let mut tensors: Vec<(String, Tensor)> =
            t.net.weights().variables().into_iter().map(|(k, v)| (format!("w.{k}"), v)).collect();
        for cell in t.net.arch() {
            for (e, a) in cell.alphas.iter().enumerate() {
                tensors.push((format!("alpha.{}.{e}", cell.name), a.detach()));
            }
        }
        let optimizer: Vec<(String, Tensor)> =
            t.w_opt.state().into_iter().chain(t.architect.adam.state("adam")).collect();
        let mut meta = BTreeMap::new();
        checkpoint::record_optimizer_keys(&mut meta, optimizer.iter().map(|(k, _)| k));
        tensors.extend(optimizer);
        meta.insert(key.to_string(), json);
        meta.insert("oxnas.config".to_string(), self.config_toml.clone());
        checkpoint::save(path, &tensors, &meta)?;
        Ok(())
    }

    fn load<N: Supernet + ?Sized>(
        &self,
        path: &Path,
        t: &mut Trainee<N>,
        reset_optimizer: bool,
    ) -> Result<(BTreeMap<String, String>, OptimizerState), SearchError> {
        let (tensors, meta) = checkpoint::load(path)?;
        load_weights_and_alphas(path, t.net.as_ref(), &tensors, self.device)?;
        let optimizer = checkpoint::optimizer_state(path, &tensors, &meta, reset_optimizer)?;
        if optimizer == OptimizerState::Load {
            t.w_opt.load_state(&tensors);
            t.architect.adam.load_state("adam", &tensors, self.device);
        }
        Ok((meta, optimizer))
    }
}

/// Copies a checkpoint's weights (`w.*`) and α (`alpha.<cell>.<edge>`) into `net`.
pub fn load_weights_and_alphas<N: Supernet + ?Sized>(
    path: &Path,
    net: &N,
    tensors: &BTreeMap<String, Tensor>,
    device: Device,
) -> Result<(), SearchError> {
    let weights: BTreeMap<String, Tensor> =
        tensors.iter().filter_map(|(k, v)| k.strip_prefix("w.").map(|n| (n.to_string(), v.shallow_clone()))).collect();
    crate::nn::state_dict::import(net.weights(), &weights)
        .map_err(|e| SearchError::Weights { path: path.display().to_string(), why: e.to_string() })?;
    for cell in net.arch() {
        for (e, a) in cell.alphas.iter().enumerate() {
            let key = format!("alpha.{}.{e}", cell.name);
            let v = tensors
                .get(&key)
                .ok_or_else(|| checkpoint::CheckpointError::MissingTensor { path: path.display().to_string(), key })?;
            tch::no_grad(|| a.shallow_clone().copy_(&v.to_device(device)));
        }
    }
    Ok(())
}
