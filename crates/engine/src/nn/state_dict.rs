//! Weights in the reference PyTorch implementations' `state_dict` naming.
//!
//! Our variable names already are the reference names (`cells.3._ops.5.op.1.weight`); the only
//! difference is PyTorch's `num_batches_tracked` counter on every BN, which libtorch's functional BN
//! does not keep. Export adds it; import accepts and ignores it.

use std::collections::{BTreeMap, BTreeSet};
use tch::{nn::VarStore, Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum StateDictError {
    #[error("the weights lack {} parameter(s) the network needs, e.g. {}; were they exported from a different architecture or config?", .0.len(), .0.iter().take(5).cloned().collect::<Vec<_>>().join(", "))]
    Missing(Vec<String>),
    #[error("the weights hold {} parameter(s) this network does not have, e.g. {}; check the architecture, channels, layers and auxiliary settings", .0.len(), .0.iter().take(5).cloned().collect::<Vec<_>>().join(", "))]
    Unexpected(Vec<String>),
    #[error("parameter '{name}' has shape {found:?} in the file but {expected:?} in the network; check channels, classes and input channels")]
    Shape { name: String, expected: Vec<i64>, found: Vec<i64> },
}

const BN_COUNTER: &str = "num_batches_tracked";

/// All variables (trainable and buffers) with `num_batches_tracked = batches` added after each BN.
pub fn export(vs: &VarStore, batches: i64) -> Vec<(String, Tensor)> {
    let mut out: BTreeMap<String, Tensor> = vs.variables().into_iter().map(|(k, v)| (k, v.detach())).collect();
    let bns: Vec<String> =
        out.keys().filter_map(|k| k.strip_suffix(".running_mean").map(|p| format!("{p}.{BN_COUNTER}"))).collect();
    for name in bns {
        out.insert(name, Tensor::from(batches).to_kind(Kind::Int64));
    }
    out.into_iter().collect()
}

/// Copies `tensors` into the store's variables. Strict: every variable must be present with the
/// same shape, and nothing but BN counters may be left over.
pub fn import(vs: &VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<(), StateDictError> {
    let vars = vs.variables();
    let mut missing: Vec<String> = vars.keys().filter(|k| !tensors.contains_key(*k)).cloned().collect();
    // Sorted, so that the examples the error names are the same on every run.
    missing.sort();
    if !missing.is_empty() {
        return Err(StateDictError::Missing(missing));
    }
    let known: BTreeSet<&String> = vars.keys().collect();
    let unexpected: Vec<String> =
        tensors.keys().filter(|k| !known.contains(k) && !k.ends_with(BN_COUNTER)).cloned().collect();
    if !unexpected.is_empty() {
        return Err(StateDictError::Unexpected(unexpected));
    }
    for (name, var) in &vars {
        let src = &tensors[name];
        if src.size() != var.size() {
            return Err(StateDictError::Shape { name: name.clone(), expected: var.size(), found: src.size() });
        }
    }
    tch::no_grad(|| {
        for (name, var) in vars {
            let src = tensors[&name].to_device(var.device()).to_kind(var.kind());
            var.shallow_clone().copy_(&src);
        }
    });
    Ok(())
}
