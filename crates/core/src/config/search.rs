//! `oxnas search`: a differentiable search on a supernet, with pluggable decision, early-stop and
//! Hessian policies on one bilevel loop.

use super::{positive, ConfigError, ConfigFile, DataConfig, OptimConfig, RunConfig};
use crate::darts::OpSet;
use crate::darts_rnn::Dropouts;
use crate::search::{Criterion, LambdaRule};
use crate::space::{DartsRnnSpace, DartsSpace, Nb201Space, SearchSpace};
use serde::{Deserialize, Serialize};

/// The supernet of a search: which space, and its size. A tagged enum, so each space takes only its
/// own keys (`[supernet] space = "nb201"` then `channels`, `cells_per_stage`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "space", rename_all = "lowercase")]
pub enum SupernetConfig {
    Nb201(Nb201SupernetConfig),
    Darts(DartsSupernetConfig),
    /// The DARTS recurrent cell inside its search language model; it trains on a text corpus.
    #[serde(rename = "darts-rnn")]
    DartsRnn(DartsRnnSupernetConfig),
}

/// The search language model of quark0/darts `rnn/model_search.py`: embedding, the 36-edge mixed
/// recurrent cell and a decoder tied to the embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsRnnSupernetConfig {
    /// Embedding and hidden size (300 in the reference search; the tied decoder needs them equal).
    pub hidden: usize,
    /// The reference search turns embedding dropout off and keeps the evaluation model's others.
    #[serde(default = "search_dropouts")]
    pub dropouts: Dropouts,
    /// Weight of the temporal activation penalty (TAR, "slowness") on the cell outputs in the w loss
    /// (the reference search's `--beta`, 1e-3). The α loss is the plain NLL, as in the reference.
    #[serde(default)]
    pub temporal_reg: f64,
    /// Weight of the activation penalty (AR) on the dropped cell outputs (`--alpha`, 0 in search).
    #[serde(default)]
    pub activation_reg: f64,
}

fn search_dropouts() -> Dropouts {
    Dropouts::SEARCH
}

/// What the supernet trains on: labelled images (the CNN spaces, `[data] dataset = ...`) or a
/// word-level corpus (the recurrent space, `[data] bptt = ...`). The section's keys tell which.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum SearchData {
    Images(DataConfig),
    Text(TextSearchData),
}

/// The corpus of a recurrent search. w trains on the train split, α on the validation split (as the
/// reference does: PTB's own validation text, not a share of train), and the end-of-epoch validation
/// pass reads the validation split at `run.eval_batch_size` columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextSearchData {
    /// A directory with `ptb.train.txt`, `ptb.valid.txt`, `ptb.test.txt`; the embedded corpus when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Window length: 35 rows, or 17 with probability 0.05 (the reference search's rule, without the
    /// retraining's normal jitter).
    pub bptt: usize,
}

impl<'de> Deserialize<'de> for SearchData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = toml::Value::deserialize(d)?;
        let images = value.get("dataset").is_some();
        let text = value.get("bptt").is_some();
        let err = |e: toml::de::Error| D::Error::custom(format!("data: {}", e.message()));
        match (images, text) {
            (true, false) => DataConfig::deserialize(value).map(SearchData::Images).map_err(err),
            (false, true) => TextSearchData::deserialize(value).map(SearchData::Text).map_err(err),
            (true, true) => Err(D::Error::custom(
                "data has both `dataset` (images) and `bptt` (text); keep the one the supernet's space reads",
            )),
            (false, false) => Err(D::Error::custom(
                "data needs `dataset` (an image dataset, for nb201 and darts) or `bptt` (a text corpus, for darts-rnn)",
            )),
        }
    }
}

impl SearchData {
    /// The image dataset; an error for a text corpus.
    pub fn images(&self) -> Result<&DataConfig, ConfigError> {
        match self {
            SearchData::Images(d) => Ok(d),
            SearchData::Text(_) => Err(ConfigError::Invalid(
                "this config reads a text corpus ([data] bptt = ...), but its space trains on images".into(),
            )),
        }
    }

    /// The text corpus; an error for an image dataset.
    pub fn text(&self) -> Result<&TextSearchData, ConfigError> {
        match self {
            SearchData::Text(d) => Ok(d),
            SearchData::Images(_) => Err(ConfigError::Invalid(
                "this config reads an image dataset ([data] dataset = ...), but its space trains on text".into(),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201SupernetConfig {
    pub channels: i64,
    /// Cells per stage (the benchmark's search skeleton uses 5).
    #[serde(default = "five")]
    pub cells_per_stage: i64,
    /// BN running statistics in search cells (the reference scripts' BN flag).
    #[serde(default)]
    pub track_running_stats: bool,
    /// Follow avg_pool_3x3 with a BN without affine parameters, as DARTS's search cell does for its
    /// pooling ops. AutoDL's NAS-Bench-201 search cell has none (the default). The BN puts the pooled
    /// features on the same per-channel scale as the convolutions' BN outputs, the scale softmax(α)
    /// then weighs them at. The derived cells are ordinary NB201 cells: the BN exists only in the
    /// supernet.
    #[serde(default)]
    pub pool_bn: bool,
    #[serde(default)]
    pub execution: Execution,
}

/// How a search supernet runs its mixed edges. Both give the same values and gradients (to float
/// rounding); `fused` is faster on CPU, `per-edge` is the reference form, kept for checks and
/// debugging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Execution {
    /// Every edge runs each of its candidate ops on its own input, as the reference code does, in
    /// PyTorch's default (NCHW) layout.
    PerEdge,
    /// The edges that leave one node run together: one ReLU, one pooling and one wide (or grouped)
    /// convolution per op for all of them, one BN over their concatenated channels. In the DARTS
    /// space activations are channels-last, where libtorch's CPU depthwise convs and pooling are
    /// fastest (NB201 stays NCHW, faster there). Decided edges run only their op; pruned edges do not run.
    #[default]
    Fused,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsSupernetConfig {
    pub channels: i64,
    /// Number of cells (8 in search).
    #[serde(default = "eight")]
    pub layers: i64,
    /// Intermediate nodes per cell.
    #[serde(default = "four")]
    pub steps: usize,
    /// Candidate ops: a preset name (`darts`, `sgas-es`) or a comma list, `none` first.
    #[serde(default = "OpSet::darts", with = "op_set_text")]
    pub ops: OpSet,
    #[serde(default)]
    pub execution: Execution,
}

/// An op set in a config is its text form (a preset name or a comma list).
mod op_set_text {
    use crate::darts::OpSet;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ops: &OpSet, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ops)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OpSet, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e| serde::de::Error::custom(format!("supernet.ops: {e}")))
    }
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

impl SupernetConfig {
    pub fn channels(&self) -> i64 {
        match self {
            SupernetConfig::Nb201(c) => c.channels,
            SupernetConfig::Darts(c) => c.channels,
            SupernetConfig::DartsRnn(c) => c.hidden as i64,
        }
    }

    /// The engine-free half of the space this supernet searches.
    pub fn space(&self) -> Box<dyn SearchSpace> {
        match self {
            SupernetConfig::Nb201(_) => Box::new(Nb201Space),
            SupernetConfig::Darts(c) => Box::new(DartsSpace { ops: c.ops.clone(), steps: c.steps }),
            SupernetConfig::DartsRnn(_) => Box::new(DartsRnnSpace),
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

/// First-order DARTS (V1) uses the current weights; second order (V2) differentiates through
/// one virtual weight step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    First,
    Second,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchOptimConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub weight_decay: f64,
    pub order: Order,
    pub step_order: StepOrder,
}

/// The decision policy and its settings: `[decision] policy = "argmax" | "sgas" | "sgas-es"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "kebab-case")]
pub enum DecisionConfig {
    /// DARTS: train to the end, then derive the architecture from α by argmax (DARTS-ES when an
    /// `[early_stop]` rule is set).
    Argmax(ArgmaxConfig),
    /// SGAS: fix one edge per cell every `frequency` epochs after `warmup_epochs`.
    Sgas(SgasConfig),
    /// SGAS-es: fix one edge per cell when the λmax rule fires (with rollback) or the phase reaches
    /// `frequency` λmax evaluations.
    SgasEs(SgasEsConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArgmaxConfig {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgasConfig {
    /// 1 (importance × certainty) or 2 (× history stability).
    #[serde(default = "criterion_one")]
    pub criterion: Criterion,
    #[serde(default = "nine")]
    pub warmup_epochs: usize,
    /// Epochs between decisions.
    #[serde(default = "five_u")]
    pub frequency: usize,
    /// Op distributions kept for criterion 2's stability.
    #[serde(default = "four")]
    pub history: usize,
    /// The batch grows by this much after each decision.
    #[serde(default)]
    pub batch_increase: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SgasEsConfig {
    #[serde(default = "criterion_one")]
    pub criterion: Criterion,
    /// The longest a phase may run, in λmax evaluations (the reference's `decision_freq`).
    #[serde(default = "fifteen")]
    pub frequency: usize,
    #[serde(default = "four")]
    pub history: usize,
    #[serde(default)]
    pub batch_increase: usize,
    /// Epochs of weight training after the last decision.
    #[serde(default = "five_u")]
    pub post_train: usize,
    /// Epochs at the start that train only the weights (α frozen, no λmax) before the first phase;
    /// 0 in the reference. Warming the weights up first (PC-DARTS, P-DARTS) keeps the early
    /// decisions from favouring the parameter-free ops merely because the convolutions are still
    /// untrained, and moves the natural early rise of λmax out of the first phase.
    #[serde(default)]
    pub weight_warmup: usize,
}

fn criterion_one() -> Criterion {
    Criterion::Cri1
}
fn nine() -> usize {
    9
}
fn five_u() -> usize {
    5
}
fn fifteen() -> usize {
    15
}
fn one_u() -> usize {
    1
}
fn lanczos_iters() -> usize {
    30
}
/// The stop asks for an estimated relative error of λmax of 1e-4, ten times below the 1e-3 the
/// probe is meant to deliver, because the estimate uses the Ritz gap in place of the unknown true
/// gap (see the engine's `eigenvalue_error`).
pub const LANCZOS_TOL: f64 = 1e-4;

fn lanczos_tol() -> f64 {
    LANCZOS_TOL
}

impl DecisionConfig {
    pub fn name(&self) -> &'static str {
        match self {
            DecisionConfig::Argmax(_) => "argmax",
            DecisionConfig::Sgas(_) => "sgas",
            DecisionConfig::SgasEs(_) => "sgas-es",
        }
    }
}

/// How λmax of the validation loss w.r.t. α is computed, and how often:
/// `[hessian] mode = "off" | "full" | "lanczos"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HessianConfig {
    Off {},
    /// The full Hessian by double backward, then its largest eigenvalue (the references' way).
    Full {
        /// λmax every this many epochs (and at the last one, where the policy asks for it).
        #[serde(default = "one_u")]
        every: usize,
    },
    /// Lanczos on exact Hessian-vector products (fast for many α).
    Lanczos {
        #[serde(default = "one_u")]
        every: usize,
        #[serde(default = "lanczos_iters")]
        iters: usize,
        #[serde(default = "lanczos_tol")]
        tol: f64,
        /// Start each Lanczos run from the previous λmax's eigenvector (mixed with a little of a
        /// random vector) instead of a random one: the top eigenvector moves little from epoch to
        /// epoch, so fewer products reach the tolerance.
        #[serde(default)]
        warm_start: bool,
        /// Also compute, at every probe, the full Hessian's λmax and a cold-started Lanczos on the
        /// same weights and batch, and log them (`lambda_check`): how accurate and how much cheaper
        /// this mode is on your search. Costs a full Hessian per probe; the search itself goes on
        /// with the Lanczos value.
        #[serde(default)]
        check: bool,
    },
}

/// The eigen-solver of a Hessian probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EigenMethod {
    /// Dense Hessian (one row per α entry) and a symmetric eigen-solver.
    Full,
    /// Lanczos with full reorthogonalisation, stopping once the top Ritz value θ has an estimated
    /// error (from its residual and the gap to the next Ritz value) of at most `tol · |θ|`, or
    /// after `iters` steps.
    Lanczos { iters: usize, tol: f64 },
}

impl HessianConfig {
    /// The λmax stride, or `None` when the probe is off.
    pub fn every(&self) -> Option<usize> {
        match *self {
            HessianConfig::Off {} => None,
            HessianConfig::Full { every } | HessianConfig::Lanczos { every, .. } => Some(every),
        }
    }

    pub fn method(&self) -> Option<EigenMethod> {
        match *self {
            HessianConfig::Off {} => None,
            HessianConfig::Full { .. } => Some(EigenMethod::Full),
            HessianConfig::Lanczos { iters, tol, .. } => Some(EigenMethod::Lanczos { iters, tol }),
        }
    }

    /// Whether each Lanczos run starts from the previous one's eigenvector.
    pub fn warm_start(&self) -> bool {
        matches!(self, HessianConfig::Lanczos { warm_start: true, .. })
    }

    /// Whether each Lanczos probe is checked against the full Hessian and a cold start.
    pub fn check(&self) -> bool {
        matches!(self, HessianConfig::Lanczos { check: true, .. })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    /// The config layout this was written in; see [`SEARCH_FORMAT`].
    #[serde(default)]
    pub format: u32,
    #[serde(default)]
    pub preset: String,
    pub supernet: SupernetConfig,
    pub data: SearchData,
    /// How the image training set is shared between w and α; a text search has no split (w trains on
    /// the corpus's train split, α on its validation split).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<SplitConfig>,
    /// Weight optimiser; `epochs` is the cosine schedule's length and the longest the search may run.
    pub optim: OptimConfig,
    pub arch: ArchOptimConfig,
    pub decision: DecisionConfig,
    pub hessian: HessianConfig,
    /// The λmax stop rule: DARTS-ES with `policy = "argmax"`, required by `"sgas-es"`.
    /// `early_stop = false` (e.g. `--set early_stop=false`) removes a preset's rule.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "rule_or_false")]
    pub early_stop: Option<LambdaRule>,
    #[serde(default)]
    pub run: RunConfig,
}

/// The data a space reads, and a split exactly when it is an image dataset (`text_split` says why a
/// text corpus takes none).
pub(crate) fn validate_data(
    data: &SearchData,
    split: Option<&SplitConfig>,
    text_space: bool,
    text_split: &str,
) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError::Invalid(m));
    match (data, split, text_space) {
        (SearchData::Images(d), Some(split), false) => {
            d.kind()?;
            d.train_transform.resolve()?;
            d.eval_transform.resolve()?;
            if !(split.train_portion > 0.0 && split.train_portion < 1.0) {
                return bad(format!("split.train_portion = {} must be strictly between 0 and 1", split.train_portion));
            }
            Ok(())
        }
        (SearchData::Images(_), None, false) => {
            bad("image data needs [split] train_portion (the share of train that trains the weights)".into())
        }
        (SearchData::Text(t), None, true) => match t.bptt {
            2.. => Ok(()),
            _ => bad(format!("data.bptt = {} must be at least 2", t.bptt)),
        },
        (SearchData::Text(_), Some(_), true) => bad(text_split.into()),
        (SearchData::Images(_), _, true) => data.text().map(|_| ()),
        (SearchData::Text(_), _, false) => data.images().map(|_| ()),
    }
}

pub(crate) fn validate_rnn_supernet(r: &DartsRnnSupernetConfig) -> Result<(), ConfigError> {
    if r.hidden < 1 {
        return Err(ConfigError::Invalid("supernet.hidden must be at least 1".into()));
    }
    r.dropouts.validate("supernet.dropouts")?;
    if ![r.temporal_reg, r.activation_reg].iter().all(|v| v.is_finite() && *v >= 0.0) {
        return Err(ConfigError::Invalid(
            "supernet.temporal_reg and supernet.activation_reg must be finite and >= 0".into(),
        ));
    }
    Ok(())
}

fn rule_or_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<LambdaRule>, D::Error> {
    use serde::de::Error;
    match toml::Value::deserialize(d)? {
        toml::Value::Boolean(false) => Ok(None),
        toml::Value::Boolean(true) => Err(D::Error::custom(
            "early_stop = true names no rule: give the [early_stop] table (window, delta, factor, start_epoch)",
        )),
        other => LambdaRule::deserialize(other).map(Some).map_err(|e| D::Error::custom(format!("early_stop: {e}"))),
    }
}

impl SearchConfig {
    /// One line saying what this search will do, printed at its start (so that, e.g., a rule left
    /// in a config that switched to argmax is visibly DARTS-ES).
    pub fn describe(&self) -> String {
        let policy = match &self.decision {
            DecisionConfig::Argmax(_) if self.early_stop.is_some() => {
                "argmax (DARTS) with the DARTS-ES stop rule".to_string()
            }
            DecisionConfig::Argmax(_) => "argmax (DARTS), no stop rule".to_string(),
            DecisionConfig::Sgas(d) => format!("SGAS criterion {}", u8::from(d.criterion)),
            DecisionConfig::SgasEs(d) if d.weight_warmup > 0 => {
                format!("SGAS-es criterion {} after {} weights-only epochs", u8::from(d.criterion), d.weight_warmup)
            }
            DecisionConfig::SgasEs(d) => format!("SGAS-es criterion {}", u8::from(d.criterion)),
        };
        let rule = match &self.early_stop {
            Some(r) => format!(
                "; λmax rule: window {}, delta {}, factor {}, from epoch {}",
                r.window, r.delta, r.factor, r.start_epoch
            ),
            None => String::new(),
        };
        let hessian = match self.hessian {
            HessianConfig::Off {} => "λmax off".to_string(),
            HessianConfig::Full { every } => format!("λmax by the full Hessian every {every} epoch(s)"),
            HessianConfig::Lanczos { every, .. } => format!("λmax by Lanczos every {every} epoch(s)"),
        };
        format!("policy: {policy}{rule}; {hessian}")
    }
}

/// The search-config layout this build reads and writes. 2: policy, Hessian and supernet sections
/// as tagged enums and an optional `[early_stop]` (oxnas before that wrote layout 1, with
/// `early_stop.rule`, `hessian.lanczos_iters` and `arch.order` as free text).
pub const SEARCH_FORMAT: u32 = 2;

/// Search presets shipped in `configs/search/`.
pub const SEARCH_PRESETS: &[(&str, &str)] = presets!("search":
    "cpu-demo",
    "darts-v1-nb201",
    "darts-v2-nb201",
    "darts-es-nb201",
    "sgas-es-nb201",
    "sgas-cri1-darts",
    "sgas-cri2-darts",
    "sgas-es-fashion-mnist",
    "darts-v1-ptb",
    "darts-v2-ptb",
    "cpu-darts-rnn",
);

impl ConfigFile for SearchConfig {
    const PRESETS: &'static [(&'static str, &'static str)] = SEARCH_PRESETS;
    const FORMAT: u32 = SEARCH_FORMAT;
    const TAGS: &'static [(&'static str, &'static str)] =
        &[("supernet", "space"), ("decision", "policy"), ("hessian", "mode")];

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_supernet()?;
        let text_space = matches!(self.supernet, SupernetConfig::DartsRnn(_));
        validate_data(
            &self.data,
            self.split.as_ref(),
            text_space,
            "a darts-rnn search trains w on the corpus's train split and α on its validation split; remove [split]",
        )?;
        let bad = |m: String| Err(ConfigError::Invalid(m));
        self.optim.validate()?;
        let a = &self.arch;
        let lr_ok = a.lr.is_finite() && a.lr > 0.0;
        let betas_ok = (0.0..1.0).contains(&a.beta1) && (0.0..1.0).contains(&a.beta2);
        let decay_ok = a.weight_decay.is_finite() && a.weight_decay >= 0.0;
        if !(lr_ok && betas_ok && decay_ok) {
            return bad(format!(
                "arch.lr must be finite and > 0, arch.beta1 and arch.beta2 in [0, 1), arch.weight_decay finite and >= 0 (got lr {}, beta1 {}, beta2 {}, weight_decay {})",
                a.lr, a.beta1, a.beta2, a.weight_decay
            ));
        }
        self.validate_policy()
    }
}

impl SearchConfig {
    fn validate_supernet(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if let SupernetConfig::DartsRnn(r) = &self.supernet {
            return validate_rnn_supernet(r);
        }
        if self.supernet.channels() < 2 {
            return bad(format!("supernet.channels = {} must be at least 2", self.supernet.channels()));
        }
        if let SupernetConfig::Darts(s) = &self.supernet {
            if s.layers < 3 || s.steps < 1 {
                return bad(format!(
                    "supernet.layers = {} must be >= 3 and supernet.steps = {} >= 1",
                    s.layers, s.steps
                ));
            }
            if !matches!(self.decision, DecisionConfig::Argmax(_)) {
                s.ops.require_none_first().map_err(|e| ConfigError::Invalid(format!("supernet.ops for SGAS: {e}")))?;
            }
        }
        Ok(())
    }

    fn validate_policy(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        let (frequency, history) = match &self.decision {
            DecisionConfig::Argmax(_) => (1, 1),
            DecisionConfig::Sgas(d) => (d.frequency, d.history),
            DecisionConfig::SgasEs(d) => (d.frequency, d.history),
        };
        if frequency == 0 || history == 0 {
            return bad("decision.frequency and decision.history must be at least 1");
        }
        match (&self.decision, &self.early_stop) {
            (DecisionConfig::Sgas(_), Some(_)) => {
                return bad("decision.policy = \"sgas\" has no λmax stop rule: remove the [early_stop] section, or use policy \"sgas-es\"")
            }
            (DecisionConfig::SgasEs(_), None) => {
                return bad("decision.policy = \"sgas-es\" needs an [early_stop] section (window, delta, factor, start_epoch)")
            }
            _ => {}
        }
        if self.early_stop.is_some() && self.hessian.every().is_none() {
            return bad("this search's early stopping reads λmax: set hessian.mode = \"full\" or \"lanczos\"");
        }
        if self.hessian.every() == Some(0) {
            return bad("hessian.every must be at least 1");
        }
        if let Some(e) = &self.early_stop {
            if e.window == 0 || e.delta == 0 || !positive(e.factor) || !e.factor.is_finite() {
                return bad("early_stop needs window >= 1, delta >= 1 and a finite factor > 0");
            }
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
            assert_eq!(cfg.format, SEARCH_FORMAT);
            let back = SearchConfig::from_toml_str(&cfg.to_toml(), name).unwrap();
            assert_eq!(back, cfg, "{name}");
        }
    }

    #[test]
    fn sgas_es_fashion_mnist_preset_has_the_reference_hyper_parameters() {
        // The SGAS-es reference settings (Tommy787576/SGAS-es-Final-Version train_search.py): batch
        // 32 (+8 per decision), SGD 0.025→0.001, α Adam 3e-4 (0.5, 0.999) wd 1e-3, C=16, 8 cells, 5
        // ops, portion 0.5, phase ≤ 15, window 3, delta 4, factor 1.3, start 0, seed 2.
        let c = SearchConfig::resolve("sgas-es-fashion-mnist", None, &[]).unwrap();
        let DecisionConfig::SgasEs(d) = c.decision else { panic!("{:?}", c.decision) };
        assert_eq!((c.optim.batch_size, d.batch_increase), (32, 8));
        assert_eq!((c.optim.lr, c.optim.lr_min, c.optim.momentum, c.optim.weight_decay), (0.025, 0.001, 0.9, 3e-4));
        assert_eq!((c.arch.lr, c.arch.beta1, c.arch.beta2, c.arch.weight_decay), (3e-4, 0.5, 0.999, 1e-3));
        let SupernetConfig::Darts(s) = &c.supernet else { panic!("DARTS space") };
        assert_eq!((s.channels, s.layers), (16, 8));
        assert_eq!(s.ops, OpSet::sgas_es());
        assert_eq!((d.frequency, d.post_train, d.criterion), (15, 5, Criterion::Cri1));
        assert_eq!(c.early_stop, Some(LambdaRule { window: 3, delta: 4, factor: 1.3, start_epoch: 0 }));
        assert_eq!((c.split.unwrap().train_portion, c.run.seed, c.optim.epochs), (0.5, 2, 125));
        assert_eq!(c.arch.order, Order::First);
        assert_eq!(c.hessian, HessianConfig::Full { every: 1 });
    }

    /// In every reference search the α half comes from the training dataset object, so the α steps
    /// and the Hessian batch see the training transform: quark0/darts and lightaime/sgas
    /// (`train_search.py`: one `train_data` with `train_transform`, split by samplers), AutoDL's
    /// NAS-Bench-201 DARTS (`get_nas_search_loaders`: a SearchDataset over the train set with its
    /// train transform), Tommy787576/SGAS-es-Final-Version (as SGAS; its normalise-only valid
    /// transform is never used by the search). cpu-demo follows SGAS-es.
    #[test]
    fn every_search_preset_feeds_alpha_the_reference_transform() {
        let expected = [
            ("cpu-demo", "fashion-mnist-train"),
            ("darts-v1-nb201", "cifar-train"),
            ("darts-v2-nb201", "cifar-train"),
            ("darts-es-nb201", "cifar-train"),
            ("sgas-es-nb201", "cifar-train"),
            ("sgas-cri1-darts", "cifar-train"),
            ("sgas-cri2-darts", "cifar-train"),
            ("sgas-es-fashion-mnist", "fashion-mnist-train"),
        ];
        let images = SEARCH_PRESETS
            .iter()
            .filter(|(n, _)| matches!(SearchConfig::resolve(n, None, &[]).unwrap().data, SearchData::Images(_)));
        assert_eq!(expected.len(), images.count(), "every image preset is listed here");
        for (name, want) in expected {
            let c = SearchConfig::resolve(name, None, &[]).unwrap();
            let SearchData::Images(data) = &c.data else { panic!("{name} reads images") };
            let named = |t: &crate::config::TransformSpec| match t {
                crate::config::TransformSpec::Named(n) => n.clone(),
                other => panic!("{name}: expected a named transform, got {other:?}"),
            };
            assert_eq!(named(&data.eval_transform), want, "{name}: α half");
            assert_eq!(named(&data.train_transform), want, "{name}: both halves use one transform");
        }
    }

    #[test]
    fn execution_defaults_to_fused_and_names_its_values() {
        let c = SearchConfig::resolve("cpu-demo", None, &[]).unwrap();
        let SupernetConfig::Nb201(s) = &c.supernet else { panic!("NB201") };
        assert_eq!(s.execution, Execution::Fused);
        let set = |v: &str| vec![format!("supernet.execution={v}")];
        let c = SearchConfig::resolve("sgas-es-fashion-mnist", None, &set("\"per-edge\"")).unwrap();
        let SupernetConfig::Darts(s) = &c.supernet else { panic!("DARTS") };
        assert_eq!(s.execution, Execution::PerEdge);
        let e = SearchConfig::resolve("cpu-demo", None, &set("\"grouped\"")).unwrap_err().to_string();
        assert!(e.contains("grouped") && e.contains("per-edge") && e.contains("fused"), "{e}");
    }

    fn resolve_err(preset: &str, sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        SearchConfig::resolve(preset, None, &sets).unwrap_err().to_string()
    }

    #[test]
    fn inconsistent_policies_are_errors() {
        let mut c = SearchConfig::resolve("sgas-es-nb201", None, &[]).unwrap();
        c.hessian = HessianConfig::Off {};
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("hessian.mode"), "{e}");
        let e = resolve_err("sgas-es-nb201", &["hessian.mode=\"off\"", "hessian.every=2"]);
        assert!(e.contains("unknown field `every`"), "Hessian off takes no stride: {e}");
        let e = resolve_err("darts-v1-nb201", &["arch.order=\"third\""]);
        assert!(e.contains("third"), "{e}");
        let e = resolve_err("darts-v1-nb201", &["decision.policy=\"random\""]);
        assert!(e.contains("random"), "{e}");
        let e = resolve_err("sgas-cri1-darts", &["decision.criterion=3"]);
        assert!(e.contains("criterion 3"), "{e}");
        // Changing a section's kind starts it afresh; the new kind's keys follow the tag.
        let c = SearchConfig::resolve(
            "cpu-demo",
            None,
            &[
                "decision.policy=\"argmax\"".into(),
                "early_stop=false".into(),
                "supernet.space=\"darts\"".into(),
                "supernet.channels=4".into(),
            ],
        )
        .unwrap();
        assert_eq!(c.decision, DecisionConfig::Argmax(ArgmaxConfig {}));
        assert!(
            matches!(&c.supernet, SupernetConfig::Darts(d) if d.channels == 4 && d.layers == 8),
            "{:?}",
            c.supernet
        );
        let e = resolve_err("cpu-demo", &["supernet.space=\"darts\""]);
        assert!(e.contains("channels"), "the new kind's required keys are asked for: {e}");
        // A new mode starts the section afresh: its defaults, none of the old mode's keys.
        let c = SearchConfig::resolve("sgas-es-nb201", None, &["hessian.mode=\"lanczos\"".into()]).unwrap();
        assert_eq!(
            c.hessian,
            HessianConfig::Lanczos { every: 1, iters: 30, tol: 1e-4, warm_start: false, check: false }
        );
        let c = SearchConfig::resolve("cpu-demo", None, &["hessian.mode=\"full\"".into()]).unwrap();
        assert_eq!(c.hessian, HessianConfig::Full { every: 1 }, "cpu-demo's warm_start is dropped with its mode");
        // A key of another policy or mode is an error, not silently ignored.
        let e = resolve_err("darts-v1-nb201", &["decision.frequency=3"]);
        assert!(e.contains("frequency"), "{e}");
        let e = resolve_err("darts-v1-nb201", &["hessian.iters=3"]);
        assert!(e.contains("iters"), "{e}");
        let e = resolve_err("cpu-demo", &["supernet.layers=3"]);
        assert!(e.contains("layers"), "{e}");
        let e = resolve_err(
            "sgas-cri1-darts",
            &["early_stop.window=3", "early_stop.delta=4", "early_stop.factor=1.3", "early_stop.start_epoch=0"],
        );
        assert!(e.contains("[early_stop]"), "{e}");
    }

    #[test]
    fn the_config_types_are_the_runtime_types() {
        let c = SearchConfig::resolve(
            "darts-es-nb201",
            None,
            &["hessian.mode=\"lanczos\"".into(), "hessian.iters=12".into(), "arch.order=\"second\"".into()],
        )
        .unwrap();
        // A new mode starts the section afresh: the preset's `every = 2` belonged to "full".
        assert_eq!(
            c.hessian,
            HessianConfig::Lanczos { every: 1, iters: 12, tol: 1e-4, warm_start: false, check: false }
        );
        assert_eq!(c.hessian.method(), Some(EigenMethod::Lanczos { iters: 12, tol: 1e-4 }));
        assert_eq!(c.arch.order, Order::Second);
        assert_eq!(c.early_stop, Some(LambdaRule::robust_darts()));
        let d = SearchConfig::resolve("darts-v1-nb201", None, &[]).unwrap();
        assert_eq!((d.hessian.every(), d.early_stop), (None, None));
    }

    #[test]
    fn a_presets_rule_can_be_removed_and_the_start_line_says_what_runs() {
        let c = SearchConfig::resolve("darts-es-nb201", None, &["early_stop=false".into()]).unwrap();
        assert_eq!(c.early_stop, None);
        assert!(c.describe().contains("argmax (DARTS), no stop rule"), "{}", c.describe());
        let es = SearchConfig::resolve("darts-es-nb201", None, &[]).unwrap();
        assert!(es.describe().contains("DARTS-ES") && es.describe().contains("window 5"), "{}", es.describe());
        let e = resolve_err("darts-es-nb201", &["early_stop=true"]);
        assert!(e.contains("names no rule"), "{e}");
        let e = resolve_err("darts-es-nb201", &["early_stop.windw=3"]);
        assert!(e.contains("windw"), "{e}");
    }

    /// quark0/darts `rnn/train_search.py` defaults, first and second order.
    #[test]
    fn the_ptb_presets_have_the_reference_search_recipe() {
        for (name, order) in [("darts-v1-ptb", Order::First), ("darts-v2-ptb", Order::Second)] {
            let c = SearchConfig::resolve(name, None, &[]).unwrap();
            let SupernetConfig::DartsRnn(m) = &c.supernet else { panic!("{name}: {:?}", c.supernet) };
            assert_eq!((m.hidden, m.temporal_reg, m.activation_reg, m.dropouts), (300, 1e-3, 0.0, Dropouts::SEARCH));
            let SearchData::Text(t) = &c.data else { panic!("{name} reads text") };
            let o = &c.optim;
            assert_eq!((t.bptt, o.batch_size, o.epochs, c.run.eval_batch_size, c.run.seed), (35, 256, 50, 10, 3));
            assert_eq!((o.lr, o.lr_min, o.momentum, o.weight_decay, o.grad_clip), (20.0, 20.0, 0.0, 5e-7, 0.25));
            let a = &c.arch;
            assert_eq!((a.lr, a.beta1, a.beta2, a.weight_decay, a.order), (3e-3, 0.9, 0.999, 1e-3, order));
            assert_eq!((a.step_order, c.split.is_none()), (StepOrder::AlphaFirst, true));
            assert_eq!(c.supernet.space().kind(), crate::config::Space::DartsRnn);
        }
    }

    #[test]
    fn a_text_search_and_an_image_search_keep_their_own_data() {
        let e = resolve_err("cpu-darts-rnn", &["split.train_portion=0.5"]);
        assert!(e.contains("remove [split]"), "{e}");
        let e = resolve_err("cpu-darts-rnn", &["data.dataset=\"cifar10\""]);
        assert!(e.contains("both `dataset` (images) and `bptt` (text)"), "{e}");
        let e = resolve_err("cpu-darts-rnn", &["data.bptt=1"]);
        assert!(e.contains("data.bptt = 1 must be at least 2"), "{e}");
        let e = resolve_err("cpu-darts-rnn", &["data.source=\"auto\""]);
        assert!(e.contains("unknown field `source`"), "{e}");
        let e = resolve_err("cpu-darts-rnn", &["supernet.dropouts.x=1.5"]);
        assert!(e.contains("supernet.dropouts.x = 1.5"), "{e}");
        let e = resolve_err("cpu-darts-rnn", &["supernet.space=\"nb201\"", "supernet.channels=4"]);
        assert!(e.contains("reads a text corpus") && e.contains("trains on images"), "{e}");
        let e = resolve_err("cpu-demo", &["supernet.space=\"darts-rnn\"", "supernet.hidden=8"]);
        assert!(e.contains("reads an image dataset") && e.contains("trains on text"), "{e}");
    }

    #[test]
    fn a_layout_1_config_is_refused_naming_the_version() {
        let mut cfg = SearchConfig::resolve("cpu-demo", None, &[]).unwrap().to_toml();
        cfg = cfg.replace("format = 2\n", "");
        let e = SearchConfig::from_toml_str(&cfg, "runs/x/config.toml").unwrap_err().to_string();
        assert!(e.contains("layout 1") && e.contains("layout 2") && e.contains("runs/x/config.toml"), "{e}");
    }
}
