//! `oxnas supernet train`: a single-path weight-sharing supernet over the NAS-Bench-201 space
//! (each step trains the paths of uniformly sampled architectures), for ranking analysis.

use super::{ConfigError, ConfigFile, DataConfig, OptimConfig, RunConfig};
use crate::nb201::Nb201Op;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneShotConfig {
    pub channels: i64,
    pub cells_per_stage: i64,
    /// Running BN statistics in the cells; `--bn running` scoring needs them (`--bn recalibrate`
    /// re-estimates them per cell either way).
    pub track_running_stats: bool,
    /// The ops sampled on every edge (a restricted space, e.g. without `none`). Default: all five.
    #[serde(default = "all_ops")]
    pub ops: Vec<String>,
    /// Architectures sampled (and back-propagated) per step; their gradients are averaged.
    #[serde(default = "one")]
    pub paths_per_step: usize,
}

fn all_ops() -> Vec<String> {
    Nb201Op::ALL.iter().map(|o| o.name().to_string()).collect()
}
fn one() -> usize {
    1
}

impl OneShotConfig {
    pub fn op_list(&self) -> Result<Vec<Nb201Op>, ConfigError> {
        let mut out: Vec<Nb201Op> = vec![];
        for name in &self.ops {
            let op: Nb201Op = name.parse().map_err(|e| ConfigError::Invalid(format!("supernet.ops: {e}")))?;
            if out.contains(&op) {
                return Err(ConfigError::Invalid(format!("supernet.ops lists '{name}' twice")));
            }
            out.push(op);
        }
        if out.is_empty() {
            return Err(ConfigError::Invalid("supernet.ops is empty; list at least one NB201 op".into()));
        }
        if out == [Nb201Op::None] {
            return Err(ConfigError::Invalid("supernet.ops = [\"none\"] samples only the empty cell".into()));
        }
        Ok(out)
    }
}

/// Ranking of a fixed sample of cells against a ground truth, tracked during training (τ per epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackConfig {
    /// Cells scored after each tracked epoch (0 = no tracking).
    pub sample: usize,
    /// A column of the NAS-Bench-201 table to rank against.
    pub truth: String,
    pub every: usize,
    /// Held-out images each tracked cell is scored on.
    pub eval_images: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetTrainConfig {
    #[serde(default)]
    pub preset: String,
    pub supernet: OneShotConfig,
    pub data: DataConfig,
    /// `train_portion` of the training set trains the supernet; the rest is held out for scoring.
    pub split: super::SplitConfig,
    pub optim: OptimConfig,
    pub track: TrackConfig,
    #[serde(default)]
    pub run: RunConfig,
}

pub const SUPERNET_PRESETS: &[(&str, &str)] = presets!("supernet": "cpu-nb201", "nb201-cifar10");

impl ConfigFile for SupernetTrainConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = SUPERNET_PRESETS;

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.supernet.op_list()?;
        if self.supernet.channels < 1 || self.supernet.cells_per_stage < 1 || self.supernet.paths_per_step < 1 {
            return bad("supernet.channels, cells_per_stage and paths_per_step must be at least 1".into());
        }
        self.data.kind()?;
        self.data.train_transform.resolve()?;
        self.data.eval_transform.resolve()?;
        if !(self.split.train_portion > 0.0 && self.split.train_portion < 1.0) {
            return bad(format!("split.train_portion = {} must be strictly between 0 and 1", self.split.train_portion));
        }
        self.optim.validate()?;
        if self.track.sample > 0 {
            if self.track.every == 0 || self.track.eval_images == 0 {
                return bad("track.every and track.eval_images must be at least 1 when track.sample > 0".into());
            }
            self.track
                .truth
                .parse::<crate::bench::Column>()
                .map_err(|e| ConfigError::Invalid(format!("track.truth: {e}")))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_resolve_and_round_trip() {
        for (name, _) in SUPERNET_PRESETS {
            let c = SupernetTrainConfig::resolve(name, None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(SupernetTrainConfig::from_toml_str(&c.to_toml(), name).unwrap(), c);
        }
    }

    #[test]
    fn restricted_spaces_are_checked() {
        let c = SupernetTrainConfig::resolve(
            "cpu-nb201",
            None,
            &["supernet.ops=[\"skip_connect\",\"nor_conv_3x3\"]".into()],
        )
        .unwrap();
        assert_eq!(c.supernet.op_list().unwrap(), vec![Nb201Op::SkipConnect, Nb201Op::NorConv3x3]);
        let e = SupernetTrainConfig::resolve("cpu-nb201", None, &["supernet.ops=[\"conv\"]".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("conv"), "{e}");
        let e =
            SupernetTrainConfig::resolve("cpu-nb201", None, &["track.truth=\"acc\"".into()]).unwrap_err().to_string();
        assert!(e.contains("track.truth"), "{e}");
    }
}
