//! Run configurations: a preset (a TOML file, embedded in the binary or given by path) plus the
//! user's `--set section.key=value` overrides, resolved into one typed config that is written beside
//! the results. Unknown keys are errors, never silently ignored.

use crate::data::{Augment, DatasetKind, Transform};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("unknown preset '{name}'; known presets: {known}. A path to a .toml file also works")]
    UnknownPreset { name: String, known: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("override '{0}' is not of the form section.key=value (e.g. optim.epochs=3)")]
    BadOverride(String),
    #[error("override '{key}': '{section}' is not a section of the config; sections are {known}")]
    BadSection { key: String, section: String, known: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

/// Which search space a network comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    Nb201,
    Darts,
}

impl std::str::FromStr for Space {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "nb201" | "nas-bench-201" | "nasbench201" => Ok(Space::Nb201),
            "darts" => Ok(Space::Darts),
            _ => Err(ConfigError::Invalid(format!("unknown space '{s}'; expected nb201 or darts"))),
        }
    }
}

/// A transform given by preset name (`"fashion-mnist-train"`) or as explicit steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TransformSpec {
    Named(String),
    Steps(Vec<Augment>),
}

pub const TRANSFORM_PRESETS: &[&str] = &[
    "fashion-mnist-train",
    "fashion-mnist-train-cutout16",
    "fashion-mnist-eval",
    "cifar-train",
    "cifar-train-cutout16",
    "cifar-eval",
    "emnist-train",
    "emnist-eval",
];

impl TransformSpec {
    pub fn resolve(&self) -> Result<Transform, ConfigError> {
        match self {
            TransformSpec::Steps(steps) => Ok(Transform::new(steps.clone())),
            TransformSpec::Named(name) => Ok(match name.as_str() {
                "fashion-mnist-train" => Transform::fashion_mnist_train(None),
                "fashion-mnist-train-cutout16" => Transform::fashion_mnist_train(Some(16)),
                "fashion-mnist-eval" => Transform::fashion_mnist_eval(),
                "cifar-train" => Transform::cifar_train(None),
                "cifar-train-cutout16" => Transform::cifar_train(Some(16)),
                "cifar-eval" => Transform::cifar_eval(),
                "emnist-train" => Transform::emnist_train(),
                "emnist-eval" => Transform::emnist_eval(),
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "unknown transform preset '{other}'; known: {}, or give a list of steps",
                        TRANSFORM_PRESETS.join(", ")
                    )))
                }
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub space: Space,
    /// NAS-Bench-201 arch string (space = nb201).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// DARTS genotype: a known name, a genotype string, or a file (space = darts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genotype: Option<String>,
    /// Initial channels C.
    pub channels: i64,
    /// NB201: cells per stage (N).
    #[serde(default = "default_cells_per_stage")]
    pub cells_per_stage: i64,
    /// DARTS: number of cells.
    #[serde(default = "default_layers")]
    pub layers: i64,
    /// DARTS: weight of the auxiliary head's loss; 0 builds no auxiliary head.
    #[serde(default)]
    pub auxiliary_weight: f64,
    /// DARTS: drop-path probability, ramped linearly from 0 over the epochs (as the reference does).
    #[serde(default)]
    pub drop_path: f64,
}

fn default_cells_per_stage() -> i64 {
    5
}
fn default_layers() -> i64 {
    20
}

/// Where a dataset's files come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SourceChoice {
    /// `data_dir` if set, else Debian's package (Fashion-MNIST), else the embedded subset.
    #[default]
    Auto,
    /// The Fashion-MNIST subset inside oxnas (6,000 train / 1,000 test).
    Embedded,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: String,
    #[serde(default)]
    pub source: SourceChoice,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    pub train_transform: TransformSpec,
    pub eval_transform: TransformSpec,
    /// Use only the first N training images (0 = all): for smoke runs.
    #[serde(default)]
    pub train_limit: usize,
    /// Use only the first N test images (0 = all).
    #[serde(default)]
    pub test_limit: usize,
}

impl DataConfig {
    pub fn kind(&self) -> Result<DatasetKind, ConfigError> {
        self.dataset.parse().map_err(|e: crate::data::DataError| ConfigError::Invalid(e.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Cosine annealing floor.
    #[serde(default)]
    pub lr_min: f64,
    pub momentum: f64,
    #[serde(default)]
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Global gradient-norm clip; 0 disables it.
    #[serde(default)]
    pub grad_clip: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    pub seed: u64,
    /// auto, cpu, cuda or cuda:N.
    #[serde(default = "default_device")]
    pub device: String,
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: usize,
    /// libtorch intra-op threads; 0 leaves libtorch's default.
    #[serde(default)]
    pub threads: usize,
}

fn default_device() -> String {
    "auto".into()
}
fn default_eval_batch() -> usize {
    256
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig { seed: 0, device: default_device(), eval_batch_size: default_eval_batch(), threads: 0 }
    }
}

/// `oxnas train`: retrain an architecture from scratch and evaluate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The preset this config started from (informational).
    #[serde(default)]
    pub preset: String,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub optim: OptimConfig,
    #[serde(default)]
    pub run: RunConfig,
}

macro_rules! presets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../configs/train/", $name, ".toml")))),*]
    };
}

/// Training presets shipped in `configs/train/`, embedded so `oxnas` works from any directory.
pub const TRAIN_PRESETS: &[(&str, &str)] =
    presets!("cpu-smoke", "fashion-mnist", "emnist-balanced", "cifar10", "nb201-cifar");

/// Reads a preset by name (embedded) or by path to a TOML file, as a TOML table.
pub fn preset_table(name_or_path: &str, presets: &[(&str, &str)]) -> Result<toml::Table, ConfigError> {
    let (origin, text) = if let Some((_, text)) = presets.iter().find(|(n, _)| *n == name_or_path) {
        (format!("preset '{name_or_path}'"), text.to_string())
    } else if Path::new(name_or_path).is_file() {
        let text = std::fs::read_to_string(name_or_path)
            .map_err(|source| ConfigError::Io { path: name_or_path.to_string(), source })?;
        (name_or_path.to_string(), text)
    } else {
        return Err(ConfigError::UnknownPreset {
            name: name_or_path.to_string(),
            known: presets.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
        });
    };
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse { origin, message: e.to_string() })
}

/// Applies `section.key=value` (value parsed as TOML, falling back to a plain string) to `table`.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, raw) = assignment.split_once('=').ok_or_else(|| ConfigError::BadOverride(assignment.to_string()))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::BadOverride(assignment.to_string()));
    }
    let value = format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()));
    let mut node = table;
    for (i, part) in parts[..parts.len() - 1].iter().enumerate() {
        let entry = node.entry(part.to_string()).or_insert_with(|| toml::Value::Table(Default::default()));
        node = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::BadSection {
                    key: key.to_string(),
                    section: parts[..=i].join("."),
                    known: "a table".into(),
                })
            }
        };
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

/// Deserialises a table into a typed config, turning serde's messages into ones that name the key.
pub fn from_table<T: serde::de::DeserializeOwned>(table: toml::Table, origin: &str) -> Result<T, ConfigError> {
    let text =
        toml::to_string(&table).map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.to_string() })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.message().to_string() })
}

impl TrainConfig {
    /// Preset (name or path), then a TOML file of overrides, then `--set` overrides, in that order.
    pub fn resolve(preset: &str, overrides_file: Option<&Path>, sets: &[String]) -> Result<Self, ConfigError> {
        let mut table = preset_table(preset, TRAIN_PRESETS)?;
        if let Some(path) = overrides_file {
            let extra = preset_table(&path.display().to_string(), &[])?;
            merge(&mut table, extra);
        }
        for s in sets {
            apply_override(&mut table, s)?;
        }
        table.insert("preset".into(), toml::Value::String(preset.to_string()));
        let cfg: TrainConfig = from_table(table, &format!("preset '{preset}' with overrides"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates a resolved config (the `config.toml` a run directory holds).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let cfg: TrainConfig = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { origin: origin.into(), message: e.message().to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let m = &self.model;
        match m.space {
            Space::Nb201 if m.arch.is_none() => {
                return bad(
                    "model.space = nb201 needs model.arch (an arch string, e.g. --arch '|nor_conv_3x3~0|+|...|')"
                        .into(),
                )
            }
            Space::Darts if m.genotype.is_none() => {
                return bad(
                    "model.space = darts needs model.genotype (a name like DARTS_V2, a genotype string, or a file)"
                        .into(),
                )
            }
            _ => {}
        }
        if m.channels < 2 {
            return bad(format!("model.channels = {} must be at least 2", m.channels));
        }
        if m.space == Space::Darts && m.layers < 3 {
            return bad(format!("model.layers = {} must be at least 3", m.layers));
        }
        if m.space == Space::Nb201 && m.cells_per_stage < 1 {
            return bad(format!("model.cells_per_stage = {} must be at least 1", m.cells_per_stage));
        }
        if !(0.0..1.0).contains(&m.drop_path) {
            return bad(format!("model.drop_path = {} must be in [0, 1)", m.drop_path));
        }
        if m.auxiliary_weight < 0.0 {
            return bad(format!("model.auxiliary_weight = {} must be >= 0", m.auxiliary_weight));
        }
        self.data.kind()?;
        self.data.train_transform.resolve()?;
        self.data.eval_transform.resolve()?;
        let o = &self.optim;
        if o.epochs == 0 || o.batch_size == 0 || self.run.eval_batch_size == 0 {
            return bad("optim.epochs, optim.batch_size and run.eval_batch_size must be at least 1".into());
        }
        if !(o.lr > 0.0 && o.lr.is_finite()) || o.lr_min < 0.0 || o.lr_min > o.lr {
            return bad(format!(
                "need 0 <= optim.lr_min <= optim.lr and lr > 0 (got lr {}, lr_min {})",
                o.lr, o.lr_min
            ));
        }
        if o.weight_decay < 0.0 || o.momentum < 0.0 || o.grad_clip < 0.0 {
            return bad("optim.weight_decay, optim.momentum and optim.grad_clip must be >= 0".into());
        }
        Ok(())
    }
}

/// Overlays `extra` onto `base`, table by table.
fn merge(base: &mut toml::Table, extra: toml::Table) {
    for (k, v) in extra {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => merge(b, e),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_resolves_and_round_trips() {
        for (name, _) in TRAIN_PRESETS {
            let cfg = TrainConfig::resolve(name, None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let back: TrainConfig = toml::from_str(&cfg.to_toml()).unwrap();
            assert_eq!(back, cfg, "{name}");
        }
    }

    #[test]
    fn fashion_mnist_preset_is_the_sgas_es_recipe() {
        let c = TrainConfig::resolve("fashion-mnist", None, &[]).unwrap();
        assert_eq!((c.optim.epochs, c.optim.batch_size, c.model.channels, c.model.layers), (600, 72, 36, 20));
        assert_eq!((c.model.auxiliary_weight, c.model.drop_path, c.optim.grad_clip), (0.4, 0.2, 5.0));
        assert_eq!((c.optim.lr, c.optim.lr_min, c.optim.weight_decay), (0.025, 0.0, 3e-4));
    }

    #[test]
    fn overrides_apply_with_types() {
        let sets =
            vec!["optim.epochs=7".to_string(), "model.arch=|none~0|+|none~0|none~1|+|none~0|none~1|none~2|".into()];
        let c = TrainConfig::resolve("cpu-smoke", None, &sets).unwrap();
        assert_eq!(c.optim.epochs, 7);
        assert!(c.model.arch.unwrap().starts_with("|none~0|"));
    }

    #[test]
    fn unknown_key_names_the_key() {
        let err = TrainConfig::resolve("cpu-smoke", None, &["optim.epochz=3".into()]).unwrap_err().to_string();
        assert!(err.contains("epochz") && err.contains("epochs"), "{err}");
        let err = TrainConfig::resolve("cpu-smoke", None, &["optimizer.lr=3".into()]).unwrap_err().to_string();
        assert!(err.contains("optimizer"), "{err}");
    }

    #[test]
    fn bad_values_and_presets_are_errors() {
        let err = TrainConfig::resolve("nope", None, &[]).unwrap_err().to_string();
        assert!(err.contains("unknown preset 'nope'") && err.contains("cpu-smoke"), "{err}");
        let err = TrainConfig::resolve("cpu-smoke", None, &["optim.lr=-1".into()]).unwrap_err().to_string();
        assert!(err.contains("optim.lr"), "{err}");
        let err = TrainConfig::resolve("cpu-smoke", None, &["epochs".into()]).unwrap_err().to_string();
        assert!(err.contains("section.key=value"), "{err}");
        let err = TrainConfig::resolve("cpu-smoke", None, &["data.dataset=imagenet".into()]).unwrap_err().to_string();
        assert!(err.contains("imagenet"), "{err}");
    }

    #[test]
    fn override_file_merges_over_preset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.toml");
        std::fs::write(&p, "[optim]\nbatch_size = 12\n").unwrap();
        let c = TrainConfig::resolve("cpu-smoke", Some(&p), &[]).unwrap();
        assert_eq!(c.optim.batch_size, 12);
        assert!(c.optim.epochs > 0, "other keys of the section survive the merge");
    }
}
