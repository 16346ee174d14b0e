//! `oxnas train`: retrain an architecture from scratch and evaluate it.

use super::{ConfigError, ConfigFile, Space, TransformSpec, TRAIN_PRESETS};
use crate::data::DatasetKind;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub space: Space,
    /// NAS-Bench-201 arch string (space = nb201), a NAS-Bench-101 cell (space = nb101: the official
    /// JSON `{"matrix": ..., "ops": ...}` or the short form `OPS:ROWS`, docs/nb101.md), or a
    /// ProxylessNAS subnet, 21 comma-separated block choices such as `k3e3,k5e6,zero,...` (space =
    /// proxyless).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// DARTS genotype: a known name, a genotype string, or a file (space = darts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genotype: Option<String>,
    /// Initial channels C (nb201, darts; NB101: the stem's width, the first stack's channels;
    /// proxyless takes its widths from `width_mult` and refuses it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub channels: i64,
    /// NB201: cells per stage (N). NB101: cells per stack (3 stacks; the benchmark has 3 cells each).
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
    /// ProxylessNAS: width multiplier of every layer (unset = 1.0, the reference widths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_mult: Option<f64>,
    /// ProxylessNAS: start the last BN scale (γ) of every residual block at zero, so that each
    /// residual block begins as the identity (Goyal et al. 2017). Deep subnets at small width train
    /// much faster so; the reference does not do it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub zero_init_residual: bool,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
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

impl OptimConfig {
    /// The rules every run's optimiser section follows: counts of at least 1, finite rates.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("optim.epochs and optim.batch_size must be at least 1".into());
        }
        let lr_ok = self.lr.is_finite() && self.lr > 0.0;
        // Comparisons with NaN are false, so a NaN lr_min fails here too.
        let lr_min_ok = self.lr_min >= 0.0 && self.lr_min <= self.lr;
        if !(lr_ok && lr_min_ok) {
            return bad(format!(
                "need 0 <= optim.lr_min <= optim.lr and a finite lr > 0 (got lr {}, lr_min {})",
                self.lr, self.lr_min
            ));
        }
        for (key, v) in
            [("momentum", self.momentum), ("weight_decay", self.weight_decay), ("grad_clip", self.grad_clip)]
        {
            // Written so that NaN fails too: every comparison with NaN is false.
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("optim.{key} = {v} must be a finite number >= 0"));
            }
        }
        Ok(())
    }
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

/// The libtorch threads to start for a request of `requested` (0: libtorch's default) on a machine
/// with `cores` cores, and a notice when the request was capped. More threads than cores only adds
/// contention; a huge number (run.threads = 100000) would spawn thousands of threads and stall.
pub fn cap_threads(requested: usize, cores: usize, setting: &str) -> (usize, Option<String>) {
    let cores = cores.max(1);
    if requested > cores {
        let notice = format!("{setting} = {requested} is more than the {cores} cores of this machine; using {cores}");
        (cores, Some(notice))
    } else {
        (requested, None)
    }
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

/// `oxnas train`: retrain an architecture from scratch and evaluate it.
impl ConfigFile for TrainConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = TRAIN_PRESETS;

    fn validate(&self) -> Result<(), ConfigError> {
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
            Space::Nb101 => check_nb101_arch(m.arch.as_deref())?,
            Space::Proxyless => return self.validate_proxyless(),
            Space::DartsRnn => return bad(crate::arch::LM_TRAINING.into()),
            _ => {}
        }
        if m.width_mult.is_some() || m.zero_init_residual {
            return bad(
                "model.width_mult and model.zero_init_residual apply only to model.space = proxyless; remove them"
                    .into(),
            );
        }
        if m.channels < 2 {
            return bad(format!("model.channels = {} must be at least 2", m.channels));
        }
        if m.space == Space::Darts && m.layers < 3 {
            return bad(format!("model.layers = {} must be at least 3", m.layers));
        }
        if matches!(m.space, Space::Nb201 | Space::Nb101) && m.cells_per_stage < 1 {
            return bad(format!("model.cells_per_stage = {} must be at least 1", m.cells_per_stage));
        }
        if !(0.0..1.0).contains(&m.drop_path) {
            return bad(format!("model.drop_path = {} must be in [0, 1)", m.drop_path));
        }
        if m.auxiliary_weight < 0.0 {
            return bad(format!("model.auxiliary_weight = {} must be >= 0", m.auxiliary_weight));
        }
        self.validate_data_and_optim()
    }
}

impl TrainConfig {
    /// A ProxylessNAS subnet: `model.arch` parses against the backbone at `model.width_mult`; the
    /// keys of the cell-based spaces are refused rather than silently ignored.
    fn validate_proxyless(&self) -> Result<(), ConfigError> {
        let m = &self.model;
        let bad = |msg: String| Err(ConfigError::Invalid(msg));
        if m.arch.is_none() {
            return bad("model.space = proxyless needs model.arch: 21 comma-separated block choices \
                 (k3e3, k3e6, k5e3, k5e6, k7e3, k7e6 or zero), e.g. --arch 'k5e3,k3e3,zero,...'"
                .into());
        }
        if m.genotype.is_some() {
            return bad("model.genotype is a DARTS key; model.space = proxyless takes its subnet in model.arch".into());
        }
        if m.channels != 0 {
            return bad(format!(
                "model.channels = {} does not apply to model.space = proxyless (its widths are the reference's, \
                 scaled by model.width_mult); remove it",
                m.channels
            ));
        }
        if m.auxiliary_weight != 0.0 || m.drop_path != 0.0 {
            return bad("model.auxiliary_weight and model.drop_path are DARTS keys; proxyless has neither".into());
        }
        // Parsing checks the width multiplier and the subnet (count, names, where zero may go).
        crate::arch::Architecture::from_config(m)?;
        self.validate_data_and_optim()
    }

    fn validate_data_and_optim(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.data.kind()?;
        self.data.train_transform.resolve()?;
        self.data.eval_transform.resolve()?;
        if self.run.eval_batch_size == 0 {
            return bad("run.eval_batch_size must be at least 1".into());
        }
        self.optim.validate()
    }
}

/// `model.arch` of an NB101 model: present, and a valid cell.
fn check_nb101_arch(arch: Option<&str>) -> Result<(), ConfigError> {
    let arch = arch.ok_or_else(|| {
        ConfigError::Invalid(
            "model.space = nb101 needs model.arch (a NAS-Bench-101 cell: the official JSON \
             {\"matrix\": [[...]], \"ops\": [\"input\", ..., \"output\"]} or the short form, e.g. \
             '1333m:111010/00001/0001/100/01/1')"
                .into(),
        )
    })?;
    crate::nb101::Cell::parse(arch).map_err(|e| ConfigError::Invalid(format!("model.arch: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Architecture;
    use std::path::Path;

    #[test]
    fn every_preset_resolves_and_round_trips() {
        for (name, _) in TRAIN_PRESETS {
            let cfg = TrainConfig::resolve(name, None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let back: TrainConfig = toml::from_str(&cfg.to_toml()).unwrap();
            assert_eq!(back, cfg, "{name}");
        }
    }

    #[test]
    fn proxyless_models_need_a_subnet_at_their_width_and_refuse_cell_keys() {
        let c = TrainConfig::resolve("cpu-proxyless", None, &[]).unwrap();
        assert_eq!((c.model.space, c.model.width_mult, c.model.channels), (Space::Proxyless, Some(0.3), 0));
        let Architecture::Proxyless(s) = Architecture::from_config(&c.model).unwrap() else {
            panic!("cpu-proxyless trains a proxyless subnet")
        };
        assert_eq!(s.active_blocks(), 19);
        assert!(!c.to_toml().contains("channels"), "{}", c.to_toml());

        let err = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            TrainConfig::resolve("cpu-proxyless", None, &sets).unwrap_err().to_string()
        };
        let arch = c.model.arch.clone().unwrap();
        let e = err(&[&format!("model.arch=\"{}\"", arch.replacen("k5e3", "zero", 1))]);
        assert!(e.contains("model.arch: block 1 (s1b1): zero is not allowed here"), "{e}");
        let e = err(&["model.arch=\"k3e3\""]);
        assert!(e.contains("model.arch: a subnet is 21 comma-separated choices"), "{e}");
        let e = err(&["model.channels=16"]);
        assert!(e.contains("model.channels = 16 does not apply to model.space = proxyless"), "{e}");
        let e = err(&["model.width_mult=-1.0"]);
        assert!(e.contains("model.width_mult: width multiplier -1 must be a positive"), "{e}");
        // At width 0.25 the 96-wide stage's first block (s4b1) keeps its width (24 -> 24) and may be
        // skipped; at 1.0 it widens 80 -> 96.
        let s4b1_zero = arch.split(',').enumerate().map(|(i, c)| if i == 12 { "zero" } else { c }).collect::<Vec<_>>();
        let s4b1_zero = format!("model.arch=\"{}\"", s4b1_zero.join(","));
        TrainConfig::resolve("cpu-proxyless", None, &[s4b1_zero.clone(), "model.width_mult=0.25".into()]).unwrap();
        assert!(err(&[&s4b1_zero]).contains("block 13 (s4b1)"));

        // Other presets switched to proxyless say what is missing or does not apply.
        let mut no_arch = c.clone();
        no_arch.model.arch = None;
        let e = no_arch.validate().unwrap_err().to_string();
        assert!(e.contains("model.space = proxyless needs model.arch"), "{e}");
        let e = TrainConfig::resolve("cpu-smoke", None, &["model.space=\"proxyless\"".into()]).unwrap_err();
        assert!(e.to_string().contains("model.channels = 8 does not apply"), "{e}");
        let e = TrainConfig::resolve("cpu-smoke", None, &["model.width_mult=0.5".into()]).unwrap_err();
        assert!(e.to_string().contains("model.width_mult and model.zero_init_residual apply only to"), "{e}");
        let e = TrainConfig::resolve("cpu-smoke", None, &["model.zero_init_residual=true".into()]).unwrap_err();
        assert!(e.to_string().contains("apply only to model.space = proxyless"), "{e}");
        assert!(c.model.zero_init_residual, "the CPU recipe starts residual blocks as the identity");
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
    fn nb101_models_need_a_valid_cell() {
        let c = TrainConfig::resolve("cpu-nb101", None, &[]).unwrap();
        assert_eq!((c.model.space, c.model.channels, c.model.cells_per_stage), (Space::Nb101, 16, 1));
        let json = r#"model.arch='{"matrix": [[0,1],[0,0]], "ops": ["input","output"]}'"#;
        assert!(TrainConfig::resolve("cpu-nb101", None, &[json.into()]).is_ok());
        let mut table = crate::config::preset_table("cpu-nb101", TRAIN_PRESETS).unwrap();
        table["model"].as_table_mut().unwrap().remove("arch");
        let err = crate::config::from_table::<TrainConfig>(table, "t").unwrap().validate().unwrap_err().to_string();
        assert!(err.contains("model.space = nb101 needs model.arch"), "{err}");
        // Ten edges after pruning: the cell's own error, under the key that holds it.
        let bad = "model.arch='33333:111010/11100/1001/100/01/0'";
        let err = TrainConfig::resolve("cpu-nb101", None, &[bad.into()]).unwrap_err().to_string();
        assert!(err.contains("model.arch:") && err.contains("edges after pruning"), "{err}");
        let err = TrainConfig::resolve("cpu-nb101", None, &["model.cells_per_stage=0".into()]).unwrap_err().to_string();
        assert!(err.contains("model.cells_per_stage = 0"), "{err}");
        assert_eq!("NAS-Bench-101".parse::<Space>().unwrap(), Space::Nb101);
    }

    #[test]
    fn type_errors_name_the_key_and_the_expected_type() {
        let err = |set: &str| TrainConfig::resolve("cpu-smoke", None, &[set.into()]).unwrap_err().to_string();
        let e = err("optim.lr=abc");
        assert!(e.contains("optim.lr: expected a number, got \"abc\""), "{e}");
        let e = err("optim.epochs=2.5");
        assert!(e.contains("optim.epochs: expected a non-negative integer, got 2.5"), "{e}");
        let e = err("optim.epochs=-3");
        assert!(e.contains("optim.epochs: expected a non-negative integer, got -3"), "{e}");
        let e = err("optim.nesterov=yes");
        assert!(e.contains("optim.nesterov: expected a boolean (true or false), got \"yes\""), "{e}");
        let e = err("run.seed=[1,2]");
        assert!(e.contains("run.seed: expected a non-negative integer, got an array"), "{e}");
        let e = err("model.channels=true");
        assert!(e.contains("model.channels: expected an integer, got true"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.toml");
        std::fs::write(&p, "[optim]\nlr = \"fast\"\n").unwrap();
        let e = TrainConfig::resolve("cpu-smoke", Some(&p), &[]).unwrap_err().to_string();
        assert!(e.contains("optim.lr: expected a number, got \"fast\""), "{e}");
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap().to_toml();
        let e = TrainConfig::from_toml_str(&cfg.replace("lr = ", "lr = \"x\" #"), "config.toml").unwrap_err();
        assert!(e.to_string().contains("optim.lr: expected a number"), "{e}");
    }

    #[test]
    fn syntax_errors_give_line_and_column_and_missing_files_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.toml");
        std::fs::write(&p, "[optim]\nbatch_size = 12\nlr = = 3\n").unwrap();
        let e = TrainConfig::resolve("cpu-smoke", Some(&p), &[]).unwrap_err().to_string();
        assert!(e.contains("line 3, column"), "{e}");
        let cfg = TrainConfig::resolve("cpu-smoke", None, &[]).unwrap().to_toml();
        let e = TrainConfig::from_toml_str(&format!("{cfg}\n[run\n"), "run/config.toml").unwrap_err().to_string();
        assert!(e.contains("run/config.toml") && e.contains("line") && e.contains("column"), "{e}");

        let missing = dir.path().join("nope.toml");
        let e = TrainConfig::resolve("cpu-smoke", Some(&missing), &[]).unwrap_err().to_string();
        assert!(e.contains("--config") && e.contains("nope.toml") && e.contains("file not found"), "{e}");
        let e = TrainConfig::resolve("cpu-smoke", Some(Path::new("")), &[]).unwrap_err().to_string();
        assert!(e.contains("--config ''") && e.contains("file not found"), "{e}");
        let e = TrainConfig::resolve(missing.to_str().unwrap(), None, &[]).unwrap_err().to_string();
        assert!(e.contains("--preset") && e.contains("file not found"), "{e}");
        let e = TrainConfig::resolve("", None, &[]).unwrap_err().to_string();
        assert!(e.contains("--preset ''") && e.contains("file not found"), "{e}");
        let e = TrainConfig::resolve("cpu-smoke", Some(dir.path()), &[]).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn threads_are_capped_at_the_cores_with_a_notice() {
        assert_eq!(cap_threads(0, 2, "run.threads"), (0, None));
        assert_eq!(cap_threads(2, 2, "run.threads"), (2, None));
        let (n, notice) = cap_threads(100_000, 2, "run.threads");
        assert_eq!(n, 2);
        assert!(notice.unwrap().contains("run.threads = 100000"));
    }

    #[test]
    fn rates_must_be_finite() {
        for set in [
            "optim.momentum=nan",
            "optim.momentum=inf",
            "optim.weight_decay=nan",
            "optim.weight_decay=-inf",
            "optim.grad_clip=inf",
            "optim.lr=inf",
            "optim.lr=nan",
            "optim.lr_min=nan",
        ] {
            let err = TrainConfig::resolve("cpu-smoke", None, &[set.into()]).unwrap_err().to_string();
            let key = set.split('=').next().unwrap();
            assert!(err.contains(key), "{set}: {err}");
        }
        for set in ["arch.lr=inf", "arch.weight_decay=nan", "optim.momentum=nan"] {
            let err = crate::config::SearchConfig::resolve("cpu-demo", None, &[set.into()]).unwrap_err().to_string();
            assert!(err.contains(set.split('=').next().unwrap()), "{set}: {err}");
        }
        let err = crate::config::SupernetTrainConfig::resolve("cpu-nb201", None, &["optim.weight_decay=inf".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("optim.weight_decay"), "{err}");
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
