//! Run configurations: a preset (a TOML file, embedded in the binary or given by path) plus the
//! user's `--set section.key=value` overrides, resolved into one typed config that is written beside
//! the results. Unknown keys are errors, never silently ignored.

/// `(name, TOML text)` of the presets shipped in `configs/<dir>/`, embedded so that `oxnas` works
/// from any directory. Defined before the submodules so that each can use it.
macro_rules! presets {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../configs/", $dir, "/", $name, ".toml")))),*]
    };
}

mod lm;
mod search;
mod sharing;
mod supernet;
mod train;

pub use lm::*;
pub use search::*;
pub use sharing::*;
pub use supernet::*;
pub use train::*;

use crate::data::{Augment, Transform};
use serde::{Deserialize, Serialize};
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("unknown preset '{name}'; known presets: {known}. A path to a .toml file also works")]
    UnknownPreset { name: String, known: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{flag} {path}: file not found{hint}")]
    FileNotFound { flag: &'static str, path: String, hint: String },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("override '{0}' is not of the form section.key=value (e.g. optim.epochs=3)")]
    BadOverride(String),
    #[error("override '{key}': '{section}' is not a section of the config; sections are {known}")]
    BadSection { key: String, section: String, known: String },
    #[error("invalid config: {0}")]
    Invalid(String),
    #[error("{origin} is config layout {found}, but this oxnas reads layout {expected}: it was written by another oxnas version (the search sections changed in layout 2). Resume it with the oxnas that started it, or start the run again")]
    Format { origin: String, found: u32, expected: u32 },
}

/// A finite number above zero (a learning rate, a factor): NaN and infinity are refused too.
pub(crate) fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// Which search space a network comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    Nb201,
    Darts,
    Nb101,
    /// The ProxylessNAS mobile space (`crate::proxyless`).
    Proxyless,
    /// The DARTS recurrent cell of a language model (`crate::darts_rnn`).
    #[serde(rename = "darts-rnn")]
    DartsRnn,
}

impl Space {
    /// The name configs and command lines use.
    pub fn name(self) -> &'static str {
        match self {
            Space::Nb201 => "nb201",
            Space::Darts => "darts",
            Space::Nb101 => "nb101",
            Space::Proxyless => "proxyless",
            Space::DartsRnn => "darts-rnn",
        }
    }

    /// The `[model]` key that names an architecture of this space.
    pub fn arch_key(self) -> &'static str {
        match self {
            Space::Darts | Space::DartsRnn => "genotype",
            _ => "arch",
        }
    }
}

impl std::str::FromStr for Space {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "nb201" | "nas-bench-201" | "nasbench201" => Ok(Space::Nb201),
            "darts" => Ok(Space::Darts),
            "nb101" | "nas-bench-101" | "nasbench101" => Ok(Space::Nb101),
            "proxyless" | "proxylessnas" => Ok(Space::Proxyless),
            "darts-rnn" | "darts_rnn" => Ok(Space::DartsRnn),
            _ => Err(ConfigError::Invalid(format!(
                "unknown space '{s}'; expected nb201, darts, nb101, proxyless or darts-rnn"
            ))),
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

/// Training presets shipped in `configs/train/`, embedded so `oxnas` works from any directory.
pub const TRAIN_PRESETS: &[(&str, &str)] = presets!("train": "cpu-smoke", "cpu-darts", "fashion-mnist", "emnist-balanced", "cifar10", "nb201-cifar", "cpu-nb101", "cpu-proxyless");

/// A run configuration: presets embedded in the binary, `--set` overrides, strict parsing, validation.
/// `oxnas train`, `search` and `supernet train` each have one; the resolution rules are shared here.
pub trait ConfigFile: Sized + Serialize + serde::de::DeserializeOwned {
    /// (name, TOML text) of the shipped presets.
    const PRESETS: &'static [(&'static str, &'static str)];

    /// The layout version this build reads. Configs with layout 1 carry no `format` key.
    const FORMAT: u32 = 1;

    /// `(section, key)` pairs that name a section's kind (a serde tag). An override that changes
    /// one starts its section afresh, since the old kind's keys mean nothing to the new one.
    const TAGS: &'static [(&'static str, &'static str)] = &[];

    fn validate(&self) -> Result<(), ConfigError>;

    /// Refuses a resolved config written in another layout, before its keys are read.
    fn check_format(table: &toml::Table, origin: &str) -> Result<(), ConfigError> {
        let found = table.get("format").and_then(|v| v.as_integer()).unwrap_or(1);
        if found != Self::FORMAT as i64 {
            let found = u32::try_from(found).unwrap_or(0);
            return Err(ConfigError::Format { origin: origin.into(), found, expected: Self::FORMAT });
        }
        Ok(())
    }

    /// Preset (name or path), then a TOML file of overrides, then `--set` overrides, in that order.
    fn resolve(preset: &str, overrides_file: Option<&Path>, sets: &[String]) -> Result<Self, ConfigError> {
        let mut table = preset_table(preset, Self::PRESETS)?;
        if let Some(path) = overrides_file {
            merge(&mut table, file_table(path, "--config")?);
        }
        for s in sets {
            restart_section_on_new_kind(&mut table, s, Self::TAGS);
            apply_override(&mut table, s)?;
        }
        table.insert("preset".into(), toml::Value::String(preset.to_string()));
        if Self::FORMAT > 1 {
            table.insert("format".into(), toml::Value::Integer(Self::FORMAT.into()));
        }
        let cfg: Self = from_table(table, &format!("preset '{preset}' with overrides"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parses and validates a resolved config (the `config.toml` a run directory holds).
    fn from_toml_str(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse { origin: origin.into(), message: e.to_string() })?;
        Self::check_format(&table, origin)?;
        let cfg: Self = typed(text, origin)?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises")
    }
}

/// Reads a preset by name (embedded) or by path to a TOML file, as a TOML table.
pub fn preset_table(name_or_path: &str, presets: &[(&str, &str)]) -> Result<toml::Table, ConfigError> {
    if let Some((_, text)) = presets.iter().find(|(n, _)| *n == name_or_path) {
        let origin = format!("preset '{name_or_path}'");
        return text.parse::<toml::Table>().map_err(|e| ConfigError::Parse { origin, message: e.to_string() });
    }
    let path = Path::new(name_or_path);
    let looks_like_a_path =
        name_or_path.is_empty() || name_or_path.contains(std::path::MAIN_SEPARATOR) || name_or_path.ends_with(".toml");
    if path.exists() || looks_like_a_path {
        return file_table(path, "--preset");
    }
    Err(ConfigError::UnknownPreset {
        name: name_or_path.to_string(),
        known: presets.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "),
    })
}

/// Reads a TOML file named by `flag` as a table; a missing file, a directory and a syntax error
/// (with its line and column) are told apart.
pub fn file_table(path: &Path, flag: &'static str) -> Result<toml::Table, ConfigError> {
    let shown = path.display().to_string();
    if path.is_dir() {
        return Err(ConfigError::Invalid(format!("{flag} {shown} is a directory; give a TOML file")));
    }
    let text = std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            let hint =
                if flag == "--preset" { "; give a preset name (see `oxnas presets`) or a .toml file" } else { "" };
            ConfigError::FileNotFound { flag, path: format!("'{shown}'"), hint: hint.to_string() }
        }
        _ => ConfigError::Io { path: shown.clone(), source },
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse { origin: shown, message: e.to_string() })
}

/// Before `section.tag=value` changes a section's kind, empties that section: the keys of the old
/// kind would be unknown to the new one. Set the new kind's other keys after the tag.
fn restart_section_on_new_kind(table: &mut toml::Table, assignment: &str, tags: &[(&str, &str)]) {
    let Some((key, raw)) = assignment.split_once('=') else { return };
    let Some((section, tag)) = key.trim().split_once('.') else { return };
    if !tags.contains(&(section, tag)) {
        return;
    }
    let new = parse_value(raw);
    if let Some(toml::Value::Table(t)) = table.get_mut(section) {
        if t.get(tag) != Some(&new) {
            t.clear();
        }
    }
}

/// An override's value as TOML, falling back to a plain string.
fn parse_value(raw: &str) -> toml::Value {
    format!("v = {}", raw.trim())
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.trim().to_string()))
}

/// Applies `section.key=value` (value parsed as TOML, falling back to a plain string) to `table`.
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let (key, raw) = assignment.split_once('=').ok_or_else(|| ConfigError::BadOverride(assignment.to_string()))?;
    let key = key.trim();
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::BadOverride(assignment.to_string()));
    }
    let value = parse_value(raw);
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
    typed(&text, origin)
}

/// Deserialises TOML text into a typed config; a type error names the key (`optim.lr: expected a
/// number, got "abc"`), a syntax error its line and column.
fn typed<T: serde::de::DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        // Without a key (a syntax error) toml's own message, with its line and column, says most.
        let message = if key == "." || key.is_empty() {
            inner.to_string()
        } else {
            format!("{key}: {}", plain_message(inner.message()))
        };
        ConfigError::Parse { origin: origin.into(), message: message.trim_end().to_string() }
    })
}

/// serde's "invalid type: string \"abc\", expected f64" as "expected a number, got \"abc\"".
fn plain_message(message: &str) -> String {
    let parsed = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "));
    let Some((got, expected)) = parsed else { return message.to_string() };
    let expected = match expected {
        "f64" | "f32" => "a number",
        "usize" | "u64" | "u32" | "u16" | "u8" => "a non-negative integer",
        "i64" | "i32" | "i16" | "i8" => "an integer",
        "a boolean" => "a boolean (true or false)",
        "a sequence" => "an array",
        "a map" => "a table",
        other => other,
    };
    let got = match got.split_once(' ') {
        Some(("string" | "integer" | "floating" | "boolean", v)) => {
            v.trim_start_matches("point ").trim_matches('`').to_string()
        }
        _ if got == "sequence" => "an array".to_string(),
        _ if got == "map" => "a table".to_string(),
        _ => got.to_string(),
    };
    format!("expected {expected}, got {got}")
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
