//! Safetensors files holding named tensors plus string metadata, written atomically.
//!
//! One file per checkpoint: the run state (epoch, history, RNG position) travels in the safetensors
//! header's `__metadata__`, so weights and state can never disagree after a crash.

use oxnas_core::fsutil::write_atomic;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{Device, Kind, Tensor};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: not a valid safetensors file ({detail}); it may be truncated or from another tool")]
    Format { path: String, detail: String },
    #[error("{path}: tensor '{name}' has dtype {dtype}, which oxnas does not read")]
    Dtype { path: String, name: String, dtype: String },
    #[error("tensor '{name}' has kind {kind:?}, which oxnas does not write")]
    Kind { name: String, kind: Kind },
    #[error("{path}: the metadata has no '{key}'; the file is not an oxnas {what} checkpoint, or was written by another version")]
    MissingState { path: String, key: String, what: String },
    #[error("{path}: metadata '{key}' cannot be read: {source}. The checkpoint is corrupt or was edited by hand; start the run again, or use another checkpoint where the command takes one")]
    BadState { path: String, key: String, source: serde_json::Error },
    #[error("{path}: {detail}. Exact resume needs the optimiser state; resume with --reset-optimizer to continue with a fresh optimiser instead (the run then differs from an uninterrupted one)")]
    OptimizerState { path: String, detail: String },
    #[error("{path}: tensor '{key}' is missing; the checkpoint is incomplete")]
    MissingTensor { path: String, key: String },
    #[error("{path}: the tensor data does not match its checksum ({detail}): the file is corrupt. Resume from another checkpoint: copy checkpoints/best.safetensors or one of checkpoints/epochs/*.safetensors over it, or start the run again")]
    Checksum { path: String, detail: String },
}

/// Metadata key of the checksum over every tensor (name, dtype, shape and bytes), verified on load.
pub const CHECKSUM: &str = "oxnas.checksum";
const CHECKSUM_ALGO: &str = "xxh3-64";

/// What loading could verify about a checkpoint's tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrity {
    /// The checksum matched.
    Verified,
    /// The file has no checksum (written by an oxnas before checksums, or by another tool).
    Unverified,
}

/// The checksum of tensors given as (name, dtype, shape, bytes), in name order so that the file
/// layout does not matter.
fn checksum<'a>(tensors: impl Iterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>) -> String {
    let mut sorted: Vec<_> = tensors.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for (name, dtype, shape, bytes) in sorted {
        h.update(name.as_bytes());
        h.update(format!("\0{dtype:?}{shape:?}\0").as_bytes());
        h.update(bytes);
    }
    format!("{CHECKSUM_ALGO}:{:016x}", h.digest())
}

/// Checks the stored checksum of a parsed file against its tensors.
fn verify(st: &SafeTensors, metadata: &HashMap<String, String>) -> Result<Integrity, CheckpointError> {
    let Some(stored) = metadata.get(CHECKSUM) else { return Ok(Integrity::Unverified) };
    let fail = |detail: String| Err(CheckpointError::Checksum { path: String::new(), detail });
    if !stored.starts_with(CHECKSUM_ALGO) {
        return fail(format!("unknown checksum '{stored}'"));
    }
    let tensors = st.tensors();
    let actual = checksum(tensors.iter().map(|(n, v)| (n.as_str(), v.dtype(), v.shape(), v.data())));
    if &actual != stored {
        return fail(format!("stored {stored}, computed {actual}"));
    }
    Ok(Integrity::Verified)
}

/// Metadata key that lists the optimiser tensors a checkpoint holds: an optimiser buffer that was
/// never created (a parameter that was never on a sampled path) is then told apart from a lost one.
pub const OPTIMIZER_KEYS: &str = "oxnas.optimizer_keys";

/// Records `keys` (the optimiser tensors being saved) in `meta`.
pub fn record_optimizer_keys<'a>(meta: &mut BTreeMap<String, String>, keys: impl Iterator<Item = &'a String>) {
    let keys: Vec<&String> = keys.collect();
    meta.insert(OPTIMIZER_KEYS.to_string(), serde_json::to_string(&keys).expect("key list serialises"));
}

/// What to do with a loaded checkpoint's optimiser state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerState {
    /// Complete: load it.
    Load,
    /// Missing or incomplete, and the user asked to continue with a fresh optimiser: skip it and
    /// say so ([`crate::run::RESET_NOTICE`]).
    Reset,
}

/// Checks a checkpoint's optimiser state. Complete state is always loaded; missing or incomplete
/// state is an error naming what is missing, unless `reset_if_missing`.
pub fn optimizer_state(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    meta: &BTreeMap<String, String>,
    reset_if_missing: bool,
) -> Result<OptimizerState, CheckpointError> {
    match check_optimizer_state(path, tensors, meta) {
        Ok(()) => Ok(OptimizerState::Load),
        Err(CheckpointError::OptimizerState { .. }) if reset_if_missing => Ok(OptimizerState::Reset),
        Err(e) => Err(e),
    }
}

fn check_optimizer_state(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    meta: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let p = || path.display().to_string();
    // Written before checkpoints listed their optimiser tensors: a buffer never created (momentum 0,
    // or a parameter never on a sampled path) cannot be told from a lost one, so what is there loads.
    let Some(text) = meta.get(OPTIMIZER_KEYS) else { return Ok(()) };
    let keys: Vec<String> = serde_json::from_str(text).map_err(|source| CheckpointError::BadState {
        path: p(),
        key: OPTIMIZER_KEYS.into(),
        source,
    })?;
    match keys.iter().find(|k| !tensors.contains_key(*k)) {
        Some(missing) => Err(CheckpointError::OptimizerState {
            path: p(),
            detail: format!("optimiser tensor '{missing}' is missing"),
        }),
        None => Ok(()),
    }
}

/// Reads the JSON state stored under `key`, naming the key and serde's reason when it cannot.
pub fn state<T: serde::de::DeserializeOwned>(
    path: &Path,
    meta: &BTreeMap<String, String>,
    key: &str,
    what: &str,
) -> Result<T, CheckpointError> {
    let p = || path.display().to_string();
    let text =
        meta.get(key).ok_or_else(|| CheckpointError::MissingState { path: p(), key: key.into(), what: what.into() })?;
    serde_json::from_str(text).map_err(|source| CheckpointError::BadState { path: p(), key: key.into(), source })
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        Kind::Half => Dtype::F16,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Int64 => Dtype::I64,
        Kind::Int => Dtype::I32,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Bool => Dtype::BOOL,
        _ => return None,
    })
}

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::I64 => Kind::Int64,
        Dtype::I32 => Kind::Int,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::BOOL => Kind::Bool,
        _ => return None,
    })
}

/// Serialises tensors (any device) and metadata to safetensors bytes.
pub fn to_bytes(tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>, CheckpointError> {
    let mut raw: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors {
        let kind = t.kind();
        let dtype = dtype_of(kind).ok_or_else(|| CheckpointError::Kind { name: name.clone(), kind })?;
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
        let nbytes = t.numel() * kind.elt_size_in_bytes();
        let mut bytes = vec![0u8; nbytes];
        t.copy_data_u8(&mut bytes, t.numel());
        raw.push((name.clone(), dtype, shape, bytes));
    }
    let views: Vec<(String, TensorView)> = raw
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).expect("shape matches byte length")))
        .collect();
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let sum = checksum(raw.iter().map(|(n, d, s, b)| (n.as_str(), *d, s.as_slice(), b.as_slice())));
    meta.insert(CHECKSUM.to_string(), sum);
    safetensors::tensor::serialize(views, &Some(meta))
        .map_err(|e| CheckpointError::Format { path: "<memory>".into(), detail: e.to_string() })
}

pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let bytes = to_bytes(tensors, metadata)?;
    write_atomic(path, &bytes).map_err(|source| CheckpointError::Io { path: path.display().to_string(), source })
}

/// Tensors (on CPU, in file order sorted by name) and metadata.
pub type Loaded = (BTreeMap<String, Tensor>, BTreeMap<String, String>);

/// Loads a checkpoint and verifies its checksum. A file without one still loads, with a warning
/// (shown on stderr by the CLI), since checkpoints of earlier versions have none.
pub fn load(path: &Path) -> Result<Loaded, CheckpointError> {
    let (loaded, integrity) = load_verified(path)?;
    if integrity == Integrity::Unverified {
        tracing::warn!(
            "{} has no checksum (written by an older oxnas or another tool); its tensors could not be verified",
            path.display()
        );
    }
    Ok(loaded)
}

/// [`load`] without the warning, saying whether the checksum was verified; for files that come
/// from other tools, such as a PyTorch state_dict being imported.
pub fn load_verified(path: &Path) -> Result<(Loaded, Integrity), CheckpointError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io { path: p.clone(), source })?;
    from_bytes_verified(&bytes).map_err(|e| match e {
        CheckpointError::Format { detail, .. } => CheckpointError::Format { path: p, detail },
        CheckpointError::Dtype { name, dtype, .. } => CheckpointError::Dtype { path: p, name, dtype },
        CheckpointError::Checksum { detail, .. } => CheckpointError::Checksum { path: p, detail },
        other => other,
    })
}

pub fn from_bytes(bytes: &[u8]) -> Result<Loaded, CheckpointError> {
    from_bytes_verified(bytes).map(|(loaded, _)| loaded)
}

pub fn from_bytes_verified(bytes: &[u8]) -> Result<(Loaded, Integrity), CheckpointError> {
    let fmt = |e: safetensors::SafeTensorError| CheckpointError::Format { path: String::new(), detail: e.to_string() };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(fmt)?;
    let st = SafeTensors::deserialize(bytes).map_err(fmt)?;
    let integrity = verify(&st, &header.metadata().clone().unwrap_or_default())?;
    let mut tensors = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = kind_of(view.dtype()).ok_or_else(|| CheckpointError::Dtype {
            path: String::new(),
            name: name.clone(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::from_data_size(view.data(), &shape, kind);
        tensors.insert(name, t);
    }
    let metadata = header.metadata().clone().unwrap_or_default().into_iter().collect();
    Ok(((tensors, metadata), integrity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_tensors_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ckpt.safetensors");
        let a = Tensor::from_slice(&[1.5f32, -2.0, 3.25]).view([3, 1]);
        let b = Tensor::from_slice(&[7i64]).view([]);
        let mut meta = BTreeMap::new();
        meta.insert("epoch".to_string(), "4".to_string());
        save(&path, &[("w.a".into(), a.shallow_clone()), ("n".into(), b)], &meta).unwrap();
        let (t, m) = load(&path).unwrap();
        assert_eq!(m["epoch"], "4");
        assert_eq!(t["w.a"].size(), [3, 1]);
        assert!(t["w.a"].equal(&a));
        assert_eq!(t["n"].kind(), Kind::Int64);
        assert_eq!(t["n"].int64_value(&[]), 7);
    }

    #[test]
    fn truncated_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.safetensors");
        let bytes = to_bytes(&[("x".into(), Tensor::ones([4], (Kind::Float, Device::Cpu)))], &BTreeMap::new()).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("bad.safetensors") && err.contains("not a valid safetensors"), "{err}");
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Cases unless PROPTEST_CASES says otherwise; kept modest for the suite's time budget.
        const CASES: u32 = 384;

        fn valid() -> Vec<u8> {
            let mut meta = BTreeMap::new();
            meta.insert("oxnas.run_state".to_string(), "{\"epochs_done\":1}".to_string());
            let t = [
                ("a".to_string(), Tensor::from_slice(&[1.0f32, 2.0, 3.0]).view([3, 1])),
                ("b".to_string(), Tensor::from_slice(&[7i64])),
            ];
            to_bytes(&t, &meta).unwrap()
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES),
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// A safetensors file with its header (or anything) mutated: an error or a loaded file
            /// whose checksum held, never a panic.
            #[test]
            fn safetensors_headers_never_panic(at in any::<usize>(), xor in 1..=255u8, cut in any::<usize>(), header_only: bool) {
                let mut bytes = valid();
                let header_len = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
                let span = if header_only { header_len } else { bytes.len() };
                bytes[at % span] ^= xor;
                let _ = from_bytes_verified(&bytes);
                bytes.truncate(cut % (bytes.len() + 1));
                let _ = from_bytes_verified(&bytes);
            }

            #[test]
            fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                let _ = from_bytes_verified(&bytes);
            }

            /// Any flipped byte in the tensor data is caught by the checksum.
            #[test]
            fn data_corruption_is_always_caught(at in any::<usize>(), xor in 1..=255u8) {
                let mut bytes = valid();
                let header_len = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
                let data = bytes.len() - header_len;
                bytes[header_len + at % data] ^= xor;
                let caught = matches!(from_bytes_verified(&bytes), Err(CheckpointError::Checksum { .. }));
                prop_assert!(caught, "byte {} of the data flipped unnoticed", at % data);
            }
        }
    }

    #[test]
    fn a_flipped_byte_in_tensor_data_is_caught_and_old_files_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("last.safetensors");
        let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]);
        save(&path, &[("x".into(), x.shallow_clone())], &BTreeMap::new()).unwrap();
        assert_eq!(load_verified(&path).unwrap().1, Integrity::Verified);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("last.safetensors") && err.contains("checksum"), "{err}");
        assert!(err.contains("checkpoints/best.safetensors") && err.contains("checkpoints/epochs/"), "{err}");

        // A file written before checksums existed: the same tensors, no checksum in the metadata.
        let views = vec![("x".to_string(), TensorView::new(Dtype::F32, vec![4], &bytes[bytes.len() - 16..]).unwrap())];
        let old = safetensors::tensor::serialize(views, &None).unwrap();
        let ((t, _), integrity) = from_bytes_verified(&old).unwrap();
        assert_eq!(integrity, Integrity::Unverified);
        assert_eq!(t["x"].size(), [4]);
    }
}
