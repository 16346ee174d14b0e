//! `oxnas supernet train`: a single-path weight-sharing supernet (each step trains the paths of
//! uniformly sampled architectures), for ranking analysis. `[supernet] space = ...` picks the space;
//! its other keys are that space's.

use super::{ConfigError, ConfigFile, DartsRnnSupernetConfig, DataConfig, OptimConfig, RunConfig, SearchData};
use crate::darts::OpSet;
use crate::nb201::Nb201Op;
use crate::oneshot::{
    DartsRankSpace, DartsRnnRankSpace, Nb101OneShotSpace, Nb201RankSpace, ProxylessRankSpace, RankSpace,
};
use crate::proxyless::{BlockChoice, ProxylessConfig};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The `[supernet]` section: a space and its settings. Without a `space` key it is NAS-Bench-201,
/// the only space of earlier versions, so their run directories still load.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "space", rename_all = "kebab-case")]
pub enum OneShotConfig {
    Nb201(Nb201OneShot),
    Darts(DartsOneShot),
    Nb101(Nb101OneShot),
    Proxyless(ProxylessOneShot),
    /// The DARTS recurrent cell: the search language model with one genotype's edges run per window.
    DartsRnn(DartsRnnSupernetConfig),
}

/// The same enum, with a required tag: what [`OneShotConfig`] deserialises through.
#[derive(Deserialize)]
#[serde(tag = "space", rename_all = "kebab-case")]
enum Tagged {
    Nb201(Nb201OneShot),
    Darts(DartsOneShot),
    Nb101(Nb101OneShot),
    Proxyless(ProxylessOneShot),
    DartsRnn(DartsRnnSupernetConfig),
}

impl<'de> Deserialize<'de> for OneShotConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut table = toml::Table::deserialize(d)?;
        table.entry("space").or_insert_with(|| toml::Value::String("nb201".into()));
        let tagged = Tagged::deserialize(toml::Value::Table(table)).map_err(serde::de::Error::custom)?;
        Ok(match tagged {
            Tagged::Nb201(c) => OneShotConfig::Nb201(c),
            Tagged::Darts(c) => OneShotConfig::Darts(c),
            Tagged::Nb101(c) => OneShotConfig::Nb101(c),
            Tagged::Proxyless(c) => OneShotConfig::Proxyless(c),
            Tagged::DartsRnn(c) => OneShotConfig::DartsRnn(c),
        })
    }
}

impl OneShotConfig {
    /// The space's engine-free half: sampling, canonical strings, bias features. Without the data,
    /// the proxyless space counts its `params` and `flops` features at the reference's ImageNet input
    /// (1000 classes, 3x224x224; its `params_note` says so); [`OneShotConfig::rank_space_on`] counts
    /// them at the data's. Sampling and canonical strings are the same either way.
    pub fn rank_space(&self) -> Result<Box<dyn RankSpace>, ConfigError> {
        match self {
            OneShotConfig::Nb201(c) => Ok(Box::new(Nb201RankSpace::with_ops(c.op_list()?))),
            OneShotConfig::Darts(c) => Ok(Box::new(DartsRankSpace::new(c.op_set()?))),
            OneShotConfig::Nb101(_) => Ok(Box::new(Nb101OneShotSpace::default())),
            OneShotConfig::Proxyless(c) => Ok(Box::new(c.rank_space(None)?)),
            OneShotConfig::DartsRnn(_) => Ok(Box::new(DartsRnnRankSpace::default())),
        }
    }

    /// [`OneShotConfig::rank_space`] with features counted on `data`'s images (classes, channels and
    /// the side of the evaluation transform's output).
    pub fn rank_space_on(&self, data: &DataConfig) -> Result<Box<dyn RankSpace>, ConfigError> {
        match self {
            OneShotConfig::Proxyless(c) => Ok(Box::new(c.rank_space(Some(ImageInput::of(data)?))?)),
            other => other.rank_space(),
        }
    }

    /// Architectures sampled (and back-propagated) per training step.
    pub fn paths_per_step(&self) -> usize {
        match self {
            OneShotConfig::Nb201(c) => c.paths_per_step,
            OneShotConfig::Darts(c) => c.paths_per_step,
            OneShotConfig::Nb101(c) => c.paths_per_step,
            OneShotConfig::Proxyless(c) => c.paths_per_step,
            OneShotConfig::DartsRnn(_) => 1,
        }
    }

    /// Whether BN layers keep running statistics (needed by `--bn running` scoring).
    pub fn track_running_stats(&self) -> bool {
        match self {
            OneShotConfig::Nb201(c) => c.track_running_stats,
            OneShotConfig::Darts(c) => c.track_running_stats,
            OneShotConfig::Nb101(c) => c.track_running_stats,
            OneShotConfig::Proxyless(c) => c.track_running_stats,
            // The reference cell's batch norm always keeps running statistics.
            OneShotConfig::DartsRnn(_) => true,
        }
    }

    /// Gives BN layers running-statistic buffers (scoring with recalibration needs them even where
    /// training kept none).
    pub fn with_running_stats(mut self) -> Self {
        match &mut self {
            OneShotConfig::Nb201(c) => c.track_running_stats = true,
            OneShotConfig::Darts(c) => c.track_running_stats = true,
            OneShotConfig::Nb101(c) => c.track_running_stats = true,
            OneShotConfig::Proxyless(c) => c.track_running_stats = true,
            OneShotConfig::DartsRnn(_) => {}
        }
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            OneShotConfig::Nb201(c) => c.validate(),
            OneShotConfig::Darts(c) => c.validate(),
            OneShotConfig::Nb101(c) => c.validate(),
            OneShotConfig::Proxyless(c) => c.validate(),
            OneShotConfig::DartsRnn(c) => super::search::validate_rnn_supernet(c),
        }
    }
}

/// Single-path NAS-Bench-201: the search network with every edge fixed to the sampled cell's op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201OneShot {
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

impl Nb201OneShot {
    fn validate(&self) -> Result<(), ConfigError> {
        self.op_list()?;
        if self.channels < 1 || self.cells_per_stage < 1 || self.paths_per_step < 1 {
            return Err(ConfigError::Invalid(
                "supernet.channels, cells_per_stage and paths_per_step must be at least 1".into(),
            ));
        }
        Ok(())
    }

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

/// Single-path DARTS (CIFAR-10 space): the DARTS search network with each edge that a sampled
/// genotype uses fixed to its op and every other edge pruned; cells have 4 nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsOneShot {
    /// The edge candidates: `darts` (the 8 DARTS ops), `sgas-es` (the 5-op SGAS-es set), or a
    /// comma-separated list. `none` is never sampled.
    #[serde(default = "darts_ops")]
    pub ops: String,
    pub channels: i64,
    pub layers: i64,
    /// Running BN statistics in the cells (`--bn running` scoring needs them).
    pub track_running_stats: bool,
    /// Genotypes sampled (and back-propagated) per step; their gradients are averaged.
    #[serde(default = "one")]
    pub paths_per_step: usize,
}

fn darts_ops() -> String {
    "darts".into()
}

impl DartsOneShot {
    pub fn op_set(&self) -> Result<OpSet, ConfigError> {
        self.ops.parse().map_err(|e| ConfigError::Invalid(format!("supernet.ops: {e}")))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.op_set()?;
        if self.channels < 1 || self.layers < 3 || self.paths_per_step < 1 {
            return Err(ConfigError::Invalid(
                "supernet.channels and paths_per_step must be at least 1, and supernet.layers at least 3 \
                 (two of the cells are reduction cells)"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Single-path NAS-Bench-101: search space 1 of NAS-Bench-1Shot1 (Zela et al. 2020), a one-shot
/// net with four choice blocks of fixed width per cell (docs/nb101.md, "The one-shot supernet").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb101OneShot {
    /// NAS-Bench-1Shot1's search space number; only 1 is implemented.
    #[serde(default = "space_one")]
    pub search_space: u8,
    /// Width of every choice block in the first stack (doubles in each later stack; the stem has it too).
    pub channels: i64,
    /// Cells per stack (3 stacks; NAS-Bench-1Shot1 uses 3, as the benchmark).
    pub cells_per_stack: i64,
    /// Running BN statistics (`--bn running` scoring needs them).
    pub track_running_stats: bool,
    /// Cells sampled (and back-propagated) per step; their gradients are averaged.
    #[serde(default = "one")]
    pub paths_per_step: usize,
}

/// Single-path ProxylessNAS (mobile space, Cai, Zhu & Han 2019): one network holding every block's
/// six MBConv choices; each step runs the blocks' sampled choices (or skips a block on `zero`).
/// Classes, input channels and resolution come from `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxylessOneShot {
    /// Scales every width (1.0 = the reference's). Where `zero` may go depends on the widths: at
    /// 0.25 or 0.35 the 96-wide stage's first block keeps its width and may be skipped too.
    pub width_mult: f64,
    /// Running BN statistics in every choice of every searchable block (`--bn running` scoring
    /// needs them); the fixed layers always keep theirs.
    pub track_running_stats: bool,
    /// Subnets sampled (and back-propagated) per step; their gradients are averaged.
    #[serde(default = "one")]
    pub paths_per_step: usize,
    /// Fix every stage's first block (the six blocks without a shortcut) to this choice, and search
    /// only the other 15. Unset = search all 21 blocks, as the reference does. Scoring and sampling
    /// then stay inside that subspace.
    #[serde(default)]
    pub stage_openers: Option<BlockChoice>,
    /// Start the last BN scale (γ) of every residual block's MBConvs at zero, so that each residual
    /// block begins as the identity (Goyal et al. 2017, "Accurate, Large Minibatch SGD"). With
    /// 15 random choices per step, a supernet at small width otherwise stays at chance.
    #[serde(default)]
    pub zero_init_residual: bool,
}

fn space_one() -> u8 {
    1
}

impl Nb101OneShot {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.search_space != 1 {
            return Err(ConfigError::Invalid(format!(
                "supernet.search_space = {}: only NAS-Bench-1Shot1 search space 1 is implemented (spaces 2 and \
                 3 differ in the parents per vertex and the number of choice blocks)",
                self.search_space
            )));
        }
        if self.channels < 1 || self.cells_per_stack < 1 || self.paths_per_step < 1 {
            return Err(ConfigError::Invalid(
                "supernet.channels, cells_per_stack and paths_per_step must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What a network sees of the data: classes, image channels and side (square images).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInput {
    pub classes: usize,
    pub channels: usize,
    pub resolution: usize,
}

impl ImageInput {
    /// The images the evaluation transform gives (training crops keep the same side).
    pub fn of(data: &DataConfig) -> Result<ImageInput, ConfigError> {
        let kind = data.kind()?;
        let (c, h, w) = kind.image_shape();
        let (channels, h, w) = data
            .eval_transform
            .resolve()?
            .output_shape(c, h, w)
            .map_err(|e| ConfigError::Invalid(format!("data.eval_transform: {e}")))?;
        if h != w {
            return Err(ConfigError::Invalid(format!(
                "data.eval_transform gives {h}x{w} images; the proxyless backbone is counted on square ones \
                 (add a resize or a square crop)"
            )));
        }
        Ok(ImageInput { classes: kind.num_classes(), channels, resolution: h })
    }
}

impl ProxylessOneShot {
    /// The backbone's configuration on `input` (the reference's ImageNet input without one).
    pub fn backbone_config(&self, input: Option<ImageInput>) -> ProxylessConfig {
        let base = ProxylessConfig { width_mult: self.width_mult, ..Default::default() };
        match input {
            Some(i) => {
                ProxylessConfig { classes: i.classes, in_channels: i.channels, resolution: i.resolution, ..base }
            }
            None => base,
        }
    }

    pub fn rank_space(&self, input: Option<ImageInput>) -> Result<ProxylessRankSpace, ConfigError> {
        ProxylessRankSpace::new(self.backbone_config(input))
            .map_err(|e| ConfigError::Invalid(format!("supernet.width_mult: {e}")))?
            .with_stage_openers(self.stage_openers)
            .map_err(|e| ConfigError::Invalid(format!("supernet.stage_openers: {e}")))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.rank_space(None)?;
        if self.paths_per_step < 1 {
            return Err(ConfigError::Invalid("supernet.paths_per_step must be at least 1".into()));
        }
        Ok(())
    }
}

/// Ranking of a fixed sample of cells against a ground truth, tracked during training (τ per epoch);
/// keys left out take the values of an untracked run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackConfig {
    /// Cells scored after each tracked epoch (0 = no tracking).
    pub sample: usize,
    /// A column of the NAS-Bench-201 table to rank against.
    pub truth: String,
    pub every: usize,
    /// Held-out images each tracked cell is scored on.
    pub eval_images: usize,
}

impl Default for TrackConfig {
    fn default() -> Self {
        TrackConfig { sample: 0, truth: String::new(), every: 1, eval_images: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupernetTrainConfig {
    #[serde(default)]
    pub preset: String,
    pub supernet: OneShotConfig,
    /// Images (the CNN spaces) or a text corpus (darts-rnn: the supernet trains on the train split
    /// and is scored on the validation split).
    pub data: SearchData,
    /// Images: `train_portion` of the training set trains the supernet; the rest is held out for
    /// scoring. A text corpus has its own validation split and takes no `[split]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<super::SplitConfig>,
    pub optim: OptimConfig,
    /// Absent: nothing is tracked.
    #[serde(default)]
    pub track: TrackConfig,
    #[serde(default)]
    pub run: RunConfig,
}

pub const SUPERNET_PRESETS: &[(&str, &str)] = presets!("supernet": "cpu-nb201", "nb201-cifar10", "cpu-darts", "darts-cifar10", "cpu-nb101", "nb101-cifar10",
        "cpu-proxyless", "proxyless-imagenet", "cpu-darts-rnn", "darts-rnn-ptb");

impl ConfigFile for SupernetTrainConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = SUPERNET_PRESETS;
    const TAGS: &'static [(&'static str, &'static str)] = &[("supernet", "space")];

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.supernet.validate()?;
        let text_space = matches!(self.supernet, OneShotConfig::DartsRnn(_));
        super::search::validate_data(
            &self.data,
            self.split.as_ref(),
            text_space,
            "a darts-rnn supernet trains on the corpus's train split and is scored on its validation split; remove [split]",
        )?;
        if let SearchData::Images(data) = &self.data {
            // The data must give the space an input it can count features on (square images).
            self.supernet.rank_space_on(data)?;
        }
        self.optim.validate()?;
        if self.track.sample > 0 {
            let space = self.supernet.rank_space()?;
            if space.name() != "nb201" {
                return bad(format!(
                    "track.truth is a NAS-Bench-201 table column, and the {} space has no embedded ground truth; \
                     set track.sample = 0 and rank the scores with `oxnas rank --truth <csv>`",
                    space.name()
                ));
            }
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

    /// The recurrent space reads a corpus and only it does; a corpus takes no [split]; nothing is
    /// tracked on it (there is no embedded ground truth).
    #[test]
    fn text_data_goes_with_the_recurrent_space() {
        let c = SupernetTrainConfig::resolve("cpu-darts-rnn", None, &[]).unwrap();
        assert!(matches!((&c.supernet, &c.data, &c.split), (OneShotConfig::DartsRnn(_), SearchData::Text(_), None)));
        assert_eq!(c.supernet.rank_space().unwrap().name(), "darts-rnn");
        let err = |text: &str| SupernetTrainConfig::from_toml_str(text, "t.toml").unwrap_err().to_string();
        let rnn = c.to_toml();
        assert!(err(&format!("{rnn}\n[split]\ntrain_portion = 0.5\n")).contains("remove [split]"));
        let image = SupernetTrainConfig::resolve("cpu-nb201", None, &[]).unwrap();
        let nb201_on_text = SupernetTrainConfig { supernet: image.supernet.clone(), ..c.clone() };
        let e = nb201_on_text.validate().unwrap_err().to_string();
        assert!(e.contains("reads a text corpus") && e.contains("trains on images"), "{e}");
        let rnn_on_images = SupernetTrainConfig { supernet: c.supernet.clone(), ..image };
        let e = rnn_on_images.validate().unwrap_err().to_string();
        assert!(e.contains("reads an image dataset") && e.contains("trains on text"), "{e}");
        let e = SupernetTrainConfig::resolve("cpu-nb201", None, &["data.bptt=35".into()]).unwrap_err().to_string();
        assert!(e.contains("both `dataset` (images) and `bptt` (text)"), "{e}");
        let e =
            SupernetTrainConfig::resolve("cpu-darts-rnn", None, &["track.sample=4".into()]).unwrap_err().to_string();
        assert!(e.contains("set track.sample = 0"), "{e}");
        let e =
            SupernetTrainConfig::resolve("cpu-darts-rnn", None, &["supernet.hidden=0".into()]).unwrap_err().to_string();
        assert!(e.contains("supernet.hidden"), "{e}");
    }

    #[test]
    fn presets_resolve_and_round_trip() {
        for (name, _) in SUPERNET_PRESETS {
            let c = SupernetTrainConfig::resolve(name, None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(SupernetTrainConfig::from_toml_str(&c.to_toml(), name).unwrap(), c);
        }
    }

    #[test]
    fn a_section_without_space_is_nb201_and_other_spaces_keys_are_refused() {
        let c = SupernetTrainConfig::resolve("cpu-nb201", None, &[]).unwrap();
        let toml = c.to_toml();
        assert!(toml.contains("space = \"nb201\""), "{toml}");
        let old = toml.replace("space = \"nb201\"\n", "");
        assert_ne!(old, toml);
        assert_eq!(SupernetTrainConfig::from_toml_str(&old, "old").unwrap(), c);
        let e = SupernetTrainConfig::resolve("cpu-nb201", None, &["supernet.space=\"nb999\"".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nb999") && e.contains("nb201"), "{e}");
        let e = SupernetTrainConfig::resolve("cpu-nb201", None, &["supernet.depth=3".into()]).unwrap_err().to_string();
        assert!(e.contains("depth"), "{e}");
    }

    #[test]
    fn darts_sections_name_an_op_set_and_refuse_other_spaces_keys() {
        let c = SupernetTrainConfig::resolve("cpu-darts", None, &[]).unwrap();
        let space = c.supernet.rank_space().unwrap();
        assert_eq!(space.name(), "darts");
        let set = |ops: &str| {
            SupernetTrainConfig::resolve("cpu-darts", None, &[format!("supernet.ops=\"{ops}\"")])
                .map(|c| match c.supernet {
                    OneShotConfig::Darts(d) => d.op_set().unwrap().len(),
                    other => panic!("{other:?}"),
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(set("sgas-es"), Ok(5));
        assert_eq!(set("darts"), Ok(8));
        assert!(set("sep_conv_7x7").unwrap_err().contains("supernet.ops: unknown DARTS op 'sep_conv_7x7'"));
        let e = SupernetTrainConfig::resolve("cpu-darts", None, &["supernet.cells_per_stage=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("cells_per_stage"), "{e}");
        let e = SupernetTrainConfig::resolve("cpu-darts", None, &["track.sample=10".into()]).unwrap_err().to_string();
        assert!(e.contains("the darts space has no embedded ground truth"), "{e}");
    }

    #[test]
    fn nb101_sections_are_search_space_1() {
        let c = SupernetTrainConfig::resolve("cpu-nb101", None, &[]).unwrap();
        let OneShotConfig::Nb101(n) = &c.supernet else { panic!("cpu-nb101 is an NB101 preset") };
        assert_eq!((n.search_space, n.cells_per_stack), (1, 1));
        let space = c.supernet.rank_space().unwrap();
        assert_eq!(space.name(), "nb101");
        assert!(space.canonical("3:11/1").is_ok());
        let e = SupernetTrainConfig::resolve("cpu-nb101", None, &["supernet.search_space=3".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("only NAS-Bench-1Shot1 search space 1 is implemented"), "{e}");
        let e =
            SupernetTrainConfig::resolve("cpu-nb101", None, &["supernet.channels=0".into()]).unwrap_err().to_string();
        assert!(e.contains("supernet.channels"), "{e}");
        let e = SupernetTrainConfig::resolve("cpu-nb101", None, &["supernet.layers=5".into()]).unwrap_err().to_string();
        assert!(e.contains("layers"), "{e}");
        let e = SupernetTrainConfig::resolve("cpu-nb101", None, &["track.sample=10".into()]).unwrap_err().to_string();
        assert!(e.contains("the nb101 space has no embedded ground truth"), "{e}");
    }

    #[test]
    fn proxyless_presets_count_features_on_their_data_and_check_the_width() {
        let c = SupernetTrainConfig::resolve("cpu-proxyless", None, &[]).unwrap();
        let OneShotConfig::Proxyless(p) = &c.supernet else { panic!("cpu-proxyless is a proxyless preset") };
        assert_eq!((p.width_mult, p.paths_per_step), (0.3, 1));
        assert_eq!((p.stage_openers, p.zero_init_residual), (Some(BlockChoice::K3E6), true));
        assert_eq!(
            ImageInput::of(c.data.images().unwrap()).unwrap(),
            ImageInput { classes: 10, channels: 1, resolution: 28 }
        );
        let space = c.supernet.rank_space_on(c.data.images().unwrap()).unwrap();
        assert_eq!(space.name(), "proxyless");
        assert!(space.params_note().contains("width 0.3, 10 classes, 1x28x28 input"), "{}", space.params_note());
        // Without the data, features are counted at the reference's ImageNet input.
        assert!(c.supernet.rank_space().unwrap().params_note().contains("1000 classes, 3x224x224"));
        // Width 0.3 keeps the reference's zero positions, so its subnets are the standard space's.
        let standard = ProxylessRankSpace::default();
        assert_eq!(space.slots(), standard.slots());
        let zeros =
            "k3e6,zero,zero,zero,k3e6,zero,zero,zero,k3e6,zero,zero,zero,k3e6,zero,zero,zero,k3e6,zero,zero,zero,k3e6";
        assert_eq!(space.canonical(zeros).unwrap(), standard.canonical(zeros).unwrap());
        let last_skipped = format!("{}zero", zeros.strip_suffix("k3e6").unwrap());
        assert!(space.canonical(&last_skipped).unwrap_err().to_string().contains("s6b1"), "s6b1 widens at 0.3 too");
        // The preset searches 15 blocks: another opener is outside its subspace (the standard space has it).
        let other_opener = zeros.replacen("k3e6", "k5e3", 1);
        assert!(standard.canonical(&other_opener).is_ok());
        let e = space.canonical(&other_opener).unwrap_err().to_string();
        assert!(e.contains("block s1b1 runs k5e3, but this supernet fixes every stage-opening block to k3e6"), "{e}");

        let c = SupernetTrainConfig::resolve("proxyless-imagenet", None, &[]).unwrap();
        let OneShotConfig::Proxyless(p) = &c.supernet else { panic!("proxyless-imagenet is a proxyless preset") };
        assert_eq!((p.width_mult, c.optim.epochs, c.optim.batch_size), (1.0, 120, 256));
        assert_eq!(
            ImageInput::of(c.data.images().unwrap()).unwrap(),
            ImageInput { classes: 10, channels: 3, resolution: 32 }
        );

        let err =
            |set: &str| SupernetTrainConfig::resolve("cpu-proxyless", None, &[set.into()]).unwrap_err().to_string();
        assert!(err("supernet.width_mult=0.0").contains("supernet.width_mult: width multiplier 0 must be a positive"));
        assert!(err("supernet.paths_per_step=0").contains("supernet.paths_per_step must be at least 1"));
        assert!(err("supernet.channels=8").contains("channels"));
        assert!(err("track.sample=10").contains("the proxyless space has no embedded ground truth"));
        assert!(err("supernet.stage_openers=\"zero\"")
            .contains("supernet.stage_openers: stage-opening blocks cannot be zero"));
        assert!(err("supernet.stage_openers=\"k9e6\"").contains("unknown block choice 'k9e6'"));
    }

    #[test]
    fn restricted_spaces_are_checked() {
        let c = SupernetTrainConfig::resolve(
            "cpu-nb201",
            None,
            &["supernet.ops=[\"skip_connect\",\"nor_conv_3x3\"]".into()],
        )
        .unwrap();
        let OneShotConfig::Nb201(n) = &c.supernet else { panic!("cpu-nb201 is an NB201 preset") };
        assert_eq!(n.op_list().unwrap(), vec![Nb201Op::SkipConnect, Nb201Op::NorConv3x3]);
        assert_eq!(c.supernet.rank_space().unwrap().enumerate().unwrap().len(), 64);
        let e = SupernetTrainConfig::resolve("cpu-nb201", None, &["supernet.ops=[\"conv\"]".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("conv"), "{e}");
        let e =
            SupernetTrainConfig::resolve("cpu-nb201", None, &["track.truth=\"acc\"".into()]).unwrap_err().to_string();
        assert!(e.contains("track.truth"), "{e}");
    }
}

/// How BN layers normalise while a cell is scored with inherited weights (`--bn`, `prune.bn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BnScoring {
    /// Normalise with the statistics of each evaluation batch (train-mode BN, no running statistics).
    Train,
    /// Use the running statistics the supernet accumulated while training (over all sampled paths).
    Running,
    /// Reset all running statistics and re-estimate them for this cell on K training batches.
    Recalibrate,
}

impl BnScoring {
    /// The name users type (`--bn train|running|recalibrate`).
    pub fn name(self) -> &'static str {
        match self {
            BnScoring::Train => "train",
            BnScoring::Running => "running",
            BnScoring::Recalibrate => "recalibrate",
        }
    }
}

impl FromStr for BnScoring {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "train" => Ok(BnScoring::Train),
            "running" => Ok(BnScoring::Running),
            "recalibrate" => Ok(BnScoring::Recalibrate),
            _ => Err(format!("unknown BN mode '{s}'; expected train, running or recalibrate")),
        }
    }
}
