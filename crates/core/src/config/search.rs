//! `oxnas search`: a differentiable search on a supernet, with pluggable decision, early-stop and
//! Hessian policies on one bilevel loop.

use super::{ConfigError, ConfigFile, DataConfig, OptimConfig, RunConfig, Space};
use crate::darts::OpSet;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetConfig {
    pub space: Space,
    pub channels: i64,
    /// NB201: cells per stage (the benchmark's search skeleton uses 5).
    #[serde(default = "five")]
    pub cells_per_stage: i64,
    /// DARTS: number of cells (8 in search).
    #[serde(default = "eight")]
    pub layers: i64,
    /// DARTS: intermediate nodes per cell.
    #[serde(default = "four")]
    pub steps: usize,
    /// DARTS: candidate ops, a preset name (`darts`, `sgas-es`) or a comma list, `none` first.
    #[serde(default = "darts_ops")]
    pub ops: String,
    /// NB201: BN running statistics in search cells (the reference scripts' BN flag).
    #[serde(default)]
    pub track_running_stats: bool,
}

fn five() -> i64 {
    5
}
fn eight() -> i64 {
    8
}
fn four() -> usize {
    4
}
fn darts_ops() -> String {
    "darts".into()
}

impl SupernetConfig {
    pub fn op_set(&self) -> Result<OpSet, ConfigError> {
        self.ops.parse().map_err(|e| ConfigError::Invalid(format!("supernet.ops: {e}")))
    }

    /// Edges per cell: 6 in NB201, 2+3+…+(steps+1) in DARTS (14 for 4 steps).
    pub fn num_edges(&self) -> usize {
        match self.space {
            Space::Nb201 => 6,
            Space::Darts => (0..self.steps).map(|i| i + 2).sum(),
        }
    }

    /// Edges an SGAS search decides per cell: all 6 in NB201; two per node in DARTS.
    pub fn num_decisions(&self) -> usize {
        match self.space {
            Space::Nb201 => 6,
            Space::Darts => 2 * self.steps,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Fraction of the training set that trains w; the rest is the validation set that trains α.
    pub train_portion: f64,
    /// Validate on at most this many validation images at the end of each epoch (0 = all).
    #[serde(default)]
    pub valid_eval_limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOrder {
    /// α step, then w step on the same train batch (quark0/darts, SGAS, SGAS-es).
    AlphaFirst,
    /// w step, then α step (AutoDL's NAS-Bench-201 DARTS).
    WeightsFirst,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchOptimConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    /// "first" (DARTS-V1) or "second" (DARTS-V2, unrolled).
    pub order: String,
    pub step_order: StepOrder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionPolicy {
    /// DARTS: train to the end, then derive the genotype from α.
    Argmax,
    /// SGAS: decide one edge per cell every `frequency` epochs after `warmup_epochs`.
    Sgas,
    /// SGAS-es: decide one edge per cell when the λmax rule fires (with rollback) or the phase reaches
    /// `frequency` epochs.
    SgasEs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionConfig {
    pub policy: DecisionPolicy,
    /// SGAS criterion: 1 (importance × certainty) or 2 (× history stability).
    #[serde(default = "one")]
    pub criterion: u8,
    #[serde(default = "nine")]
    pub warmup_epochs: usize,
    /// SGAS: epochs between decisions. SGAS-es: the longest a phase may run.
    #[serde(default = "five_u")]
    pub frequency: usize,
    #[serde(default = "four")]
    pub history: usize,
    /// Batch size grows by this much after each decision.
    #[serde(default)]
    pub batch_increase: usize,
    /// Epochs of weight training after the last decision.
    #[serde(default = "five_u")]
    pub post_train: usize,
}

fn one() -> u8 {
    1
}
fn nine() -> usize {
    9
}
fn five_u() -> usize {
    5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopRule {
    None,
    /// DARTS-ES (RobustDARTS): stop once the local average of λmax grows by `factor` over `delta`
    /// evaluations and return the architecture of the epoch the rule points to.
    DartsEs,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopConfig {
    pub rule: StopRule,
    pub window: usize,
    pub delta: usize,
    pub factor: f64,
    /// First epoch (of the run, or of each SGAS-es phase) at which the rule may fire.
    pub start_epoch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HessianModeName {
    Off,
    /// The full Hessian by double backward, then its largest eigenvalue (the references' semantics).
    Full,
    /// Lanczos on exact Hessian-vector products (fast for many α).
    Lanczos,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HessianConfig {
    pub mode: HessianModeName,
    /// Compute λmax every N epochs (and at the last epoch).
    pub every: usize,
    #[serde(default = "lanczos_iters")]
    pub lanczos_iters: usize,
    #[serde(default = "lanczos_tol")]
    pub lanczos_tol: f64,
}

fn lanczos_iters() -> usize {
    30
}
fn lanczos_tol() -> f64 {
    1e-5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    #[serde(default)]
    pub preset: String,
    pub supernet: SupernetConfig,
    pub data: DataConfig,
    pub split: SplitConfig,
    /// Weight optimiser; `epochs` is the cosine schedule's length and the longest the search may run.
    pub optim: OptimConfig,
    pub arch: ArchOptimConfig,
    pub decision: DecisionConfig,
    pub hessian: HessianConfig,
    pub early_stop: EarlyStopConfig,
    #[serde(default)]
    pub run: RunConfig,
}

macro_rules! presets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../../configs/search/", $name, ".toml")))),*]
    };
}

/// Search presets shipped in `configs/search/`.
pub const SEARCH_PRESETS: &[(&str, &str)] = presets!(
    "cpu-demo",
    "darts-v1-nb201",
    "darts-v2-nb201",
    "darts-es-nb201",
    "sgas-es-nb201",
    "sgas-cri1-darts",
    "sgas-cri2-darts",
    "sgas-es-fashion-mnist",
);

impl ConfigFile for SearchConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = SEARCH_PRESETS;

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let s = &self.supernet;
        if s.channels < 2 {
            return bad(format!("supernet.channels = {} must be at least 2", s.channels));
        }
        if s.space == Space::Darts {
            let ops = s.op_set()?;
            if s.layers < 3 || s.steps < 1 {
                return bad(format!(
                    "supernet.layers = {} must be >= 3 and supernet.steps = {} >= 1",
                    s.layers, s.steps
                ));
            }
            if self.decision.policy != DecisionPolicy::Argmax {
                ops.require_none_first().map_err(|e| ConfigError::Invalid(format!("supernet.ops for SGAS: {e}")))?;
            }
        }
        self.data.kind()?;
        self.data.train_transform.resolve()?;
        self.data.eval_transform.resolve()?;
        if !(self.split.train_portion > 0.0 && self.split.train_portion < 1.0) {
            return bad(format!("split.train_portion = {} must be strictly between 0 and 1", self.split.train_portion));
        }
        let o = &self.optim;
        if o.epochs == 0 || o.batch_size == 0 || !(o.lr > 0.0) || o.lr_min < 0.0 || o.lr_min > o.lr {
            return bad("optim needs epochs >= 1, batch_size >= 1 and 0 <= lr_min <= lr, lr > 0".into());
        }
        let a = &self.arch;
        if !(a.lr > 0.0) || !(0.0..1.0).contains(&a.beta1) || !(0.0..1.0).contains(&a.beta2) || a.weight_decay < 0.0 {
            return bad("arch needs lr > 0, beta1 and beta2 in [0, 1), weight_decay >= 0".into());
        }
        if a.order != "first" && a.order != "second" {
            return bad(format!("arch.order = '{}' must be \"first\" or \"second\"", a.order));
        }
        let d = &self.decision;
        if d.criterion != 1 && d.criterion != 2 {
            return bad(format!("decision.criterion = {} must be 1 or 2", d.criterion));
        }
        if d.policy != DecisionPolicy::Argmax && (d.frequency == 0 || d.history == 0) {
            return bad("decision.frequency and decision.history must be at least 1".into());
        }
        let needs_hessian = d.policy == DecisionPolicy::SgasEs || self.early_stop.rule == StopRule::DartsEs;
        if needs_hessian && self.hessian.mode == HessianModeName::Off {
            return bad("this search's early stopping reads λmax: set hessian.mode = \"full\" or \"lanczos\"".into());
        }
        if d.policy == DecisionPolicy::SgasEs && self.early_stop.rule == StopRule::DartsEs {
            return bad("early_stop.rule = \"darts-es\" and decision.policy = \"sgas-es\" are two stop rules; SGAS-es applies its per-phase rule itself, so set early_stop.rule = \"none\"".into());
        }
        if self.hessian.every == 0 {
            return bad("hessian.every must be at least 1".into());
        }
        let e = &self.early_stop;
        if e.window == 0 || e.delta == 0 || !(e.factor > 0.0) {
            return bad("early_stop needs window >= 1, delta >= 1, factor > 0".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_search_preset_resolves_and_round_trips() {
        for (name, _) in SEARCH_PRESETS {
            let cfg = SearchConfig::resolve(name, None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            let back = SearchConfig::from_toml_str(&cfg.to_toml(), name).unwrap();
            assert_eq!(back, cfg, "{name}");
        }
    }

    #[test]
    fn sgas_es_fashion_mnist_preset_has_the_reference_hyper_parameters() {
        // Spec §4.2: batch 32 (+8 per decision), SGD 0.025→0.001, α Adam 3e-4 (0.5, 0.999) wd 1e-3,
        // C=16, 8 cells, 5 ops, portion 0.5, phase ≤ 15, window 3, delta 4, factor 1.3, start 0, seed 2.
        let c = SearchConfig::resolve("sgas-es-fashion-mnist", None, &[]).unwrap();
        assert_eq!((c.optim.batch_size, c.decision.batch_increase), (32, 8));
        assert_eq!((c.optim.lr, c.optim.lr_min, c.optim.momentum, c.optim.weight_decay), (0.025, 0.001, 0.9, 3e-4));
        assert_eq!((c.arch.lr, c.arch.beta1, c.arch.beta2, c.arch.weight_decay), (3e-4, 0.5, 0.999, 1e-3));
        assert_eq!((c.supernet.channels, c.supernet.layers), (16, 8));
        assert_eq!(c.supernet.op_set().unwrap(), OpSet::sgas_es());
        assert_eq!((c.decision.policy, c.decision.frequency, c.decision.post_train), (DecisionPolicy::SgasEs, 15, 5));
        assert_eq!(
            (c.early_stop.window, c.early_stop.delta, c.early_stop.factor, c.early_stop.start_epoch),
            (3, 4, 1.3, 0)
        );
        assert_eq!((c.split.train_portion, c.run.seed, c.optim.epochs), (0.5, 2, 125));
        assert_eq!(c.arch.order, "first");
    }

    #[test]
    fn inconsistent_policies_are_errors() {
        let e = SearchConfig::resolve("sgas-es-nb201", None, &["hessian.mode=\"off\"".into()]).unwrap_err().to_string();
        assert!(e.contains("hessian.mode"), "{e}");
        let e =
            SearchConfig::resolve("darts-v1-nb201", None, &["arch.order=\"third\"".into()]).unwrap_err().to_string();
        assert!(e.contains("arch.order"), "{e}");
        let e = SearchConfig::resolve("darts-v1-nb201", None, &["decision.policy=\"random\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("random"), "{e}");
    }
}
