//! `oxnas prune` and `oxnas supernet fewshot`: experiments on how much, and over which architectures,
//! a supernet's weights are shared. Both train single-path supernets like `oxnas supernet train`
//! (the same `[supernet]`, `[data]`, `[split]`, `[optim]` and `[run]` sections; `optim.epochs` is
//! the epochs of one round or one group) and add a section of their own.

use super::{BnScoring, ConfigError, ConfigFile, DataConfig, OneShotConfig, OptimConfig, RunConfig, SplitConfig};
use super::{SupernetTrainConfig, TrackConfig};
use crate::prune::{PruneMethod, PruneUnit};
use serde::{Deserialize, Serialize};

/// The `[prune]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruneSection {
    pub rounds: usize,
    /// Share of the survivors (unit `arch`) or of the surviving choices (unit `op`) removed per round.
    pub fraction: f64,
    pub unit: PruneUnit,
    pub method: PruneMethod,
    /// The initial pool, as `--archs` takes it (`all`, `sample:N`, a file, ...).
    pub archs: String,
    /// Survivors scored per round (0: all of them; unit `arch` needs all).
    pub score_sample: usize,
    /// Held-out images each scored architecture is evaluated on.
    pub eval_images: usize,
    pub bn: BnScoring,
    /// Training batches per cell for `bn = "recalibrate"`.
    #[serde(default = "ten")]
    pub recal_batches: usize,
    /// Ground truth for the per-round report: a NAS-Bench-201 column, a CSV, or "" for none.
    #[serde(default)]
    pub truth: String,
}

fn ten() -> usize {
    10
}

/// The `[fewshot]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FewShotSection {
    /// Slots whose choices define the groups (NB201: edge indices 0..5 in arch-string order).
    pub split: Vec<usize>,
    /// Epochs of the shared warm-up supernet every group starts from (over the whole space).
    pub warmup_epochs: usize,
    /// The architectures scored, each in its own group's supernet.
    pub archs: String,
    pub eval_images: usize,
    pub bn: BnScoring,
    #[serde(default = "ten")]
    pub recal_batches: usize,
    /// Ground truth the command ranks against: a NAS-Bench-201 column or a CSV.
    pub truth: String,
}

macro_rules! sharing_config {
    ($name:ident, $section:ident, $ty:ty, $dir:literal, $presets:ident) => {
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(default)]
            pub preset: String,
            pub supernet: OneShotConfig,
            pub data: DataConfig,
            pub split: SplitConfig,
            /// `optim.epochs`: supernet epochs per round (prune) or per group (few-shot).
            pub optim: OptimConfig,
            pub $section: $ty,
            #[serde(default)]
            pub run: RunConfig,
        }

pub const $presets: &[(&str, &str)] = presets!($dir: "cpu-nb201");

        impl $name {
            /// The supernet training a round or group runs: this config's sections, no tracking.
            pub fn supernet_config(&self, epochs: usize) -> SupernetTrainConfig {
                SupernetTrainConfig {
                    preset: self.preset.clone(),
                    supernet: self.supernet.clone(),
                    data: super::SearchData::Images(self.data.clone()),
                    split: Some(self.split.clone()),
                    optim: OptimConfig { epochs, ..self.optim.clone() },
                    track: TrackConfig { sample: 0, truth: String::new(), every: 1, eval_images: 0 },
                    run: self.run.clone(),
                }
            }
        }
    };
}

sharing_config!(PruneConfig, prune, PruneSection, "prune", PRUNE_PRESETS);
sharing_config!(FewShotConfig, fewshot, FewShotSection, "fewshot", FEWSHOT_PRESETS);

impl ConfigFile for PruneConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = PRUNE_PRESETS;
    const TAGS: &'static [(&'static str, &'static str)] = &[("supernet", "space")];

    fn validate(&self) -> Result<(), ConfigError> {
        self.supernet_config(self.optim.epochs).validate()?;
        let p = &self.prune;
        let bad = |m: &str| Err(ConfigError::Invalid(format!("prune.{m}")));
        if p.rounds == 0 {
            return bad("rounds must be at least 1");
        }
        if !(p.fraction > 0.0 && p.fraction < 1.0) {
            return bad(&format!("fraction = {} must be strictly between 0 and 1", p.fraction));
        }
        if p.unit == PruneUnit::Arch && p.score_sample > 0 && p.method == PruneMethod::Supernet {
            return bad("score_sample must be 0 with unit = \"arch\": removing the worst architectures needs every survivor's score (use unit = \"op\" to prune a large space from a sample)");
        }
        if p.eval_images == 0 || (p.bn == BnScoring::Recalibrate && p.recal_batches == 0) {
            return bad("eval_images (and recal_batches with bn = \"recalibrate\") must be at least 1");
        }
        check_bn(&self.supernet, p.bn)
    }
}

impl ConfigFile for FewShotConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = FEWSHOT_PRESETS;
    const TAGS: &'static [(&'static str, &'static str)] = &[("supernet", "space")];

    fn validate(&self) -> Result<(), ConfigError> {
        self.supernet_config(self.optim.epochs).validate()?;
        let f = &self.fewshot;
        if f.split.is_empty() {
            return Err(ConfigError::Invalid("fewshot.split is empty; name at least one slot (e.g. [0])".into()));
        }
        if f.eval_images == 0 || (f.bn == BnScoring::Recalibrate && f.recal_batches == 0) {
            return Err(ConfigError::Invalid(
                "fewshot.eval_images (and recal_batches with bn = \"recalibrate\") must be at least 1".into(),
            ));
        }
        check_bn(&self.supernet, f.bn)
    }
}

fn check_bn(supernet: &OneShotConfig, bn: BnScoring) -> Result<(), ConfigError> {
    if bn == BnScoring::Running && !supernet.track_running_stats() {
        return Err(ConfigError::Invalid(
            "bn = \"running\" needs supernet.track_running_stats = true; or use bn = \"train\" or \"recalibrate\""
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_round_trip() {
        for (name, _) in PRUNE_PRESETS {
            let c = PruneConfig::resolve(name, None, &[]).unwrap();
            assert_eq!(PruneConfig::from_toml_str(&c.to_toml(), name).unwrap(), c);
        }
        for (name, _) in FEWSHOT_PRESETS {
            let c = FewShotConfig::resolve(name, None, &[]).unwrap();
            assert_eq!(FewShotConfig::from_toml_str(&c.to_toml(), name).unwrap(), c);
        }
    }

    #[test]
    fn bad_settings_are_refused_with_their_key() {
        let e = |sets: &[&str]| {
            let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
            PruneConfig::resolve("cpu-nb201", None, &sets).unwrap_err().to_string()
        };
        assert!(e(&["prune.fraction=1.0"]).contains("prune.fraction"));
        assert!(e(&["prune.rounds=0"]).contains("prune.rounds"));
        assert!(e(&["prune.unit=\"arch\"", "prune.score_sample=10"]).contains("score_sample must be 0"));
        assert!(e(&["prune.unit=\"edge\""]).contains("edge"));
        assert!(e(&["prune.colour=1"]).contains("colour"));
        let sets = vec!["fewshot.split=[]".to_string()];
        let e = FewShotConfig::resolve("cpu-nb201", None, &sets).unwrap_err().to_string();
        assert!(e.contains("fewshot.split"), "{e}");
    }
}
