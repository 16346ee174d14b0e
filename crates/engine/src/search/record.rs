//! What `search.jsonl` records: one line per executed epoch.

use oxnas_core::space::CellAlphas;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub cell: String,
    pub edge: usize,
    pub op: String,
    pub score: f64,
    pub pruned: Vec<usize>,
}

/// One executed epoch of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchEpoch {
    /// Counts every executed epoch, rolled-back ones included.
    pub iteration: usize,
    pub epoch: usize,
    /// Decisions made before this epoch (the SGAS/SGAS-es phase).
    pub phase: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// Mean training loss (cross-entropy, or NLL per token for a language model).
    pub train_loss: f64,
    /// Accuracy in %, for classifiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_acc: Option<f64>,
    /// Perplexity, exp(train_loss), for language models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_ppl: Option<f64>,
    pub valid_loss: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_ppl: Option<f64>,
    pub lambda_max: Option<f64>,
    pub hessian_s: Option<f64>,
    /// Hessian-vector products the λmax probe spent (a full Hessian counts one per row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hessian_hvps: Option<usize>,
    /// `hessian.check`: the same probe by the full Hessian and by a cold-started Lanczos.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda_check: Option<LambdaCheck>,
    /// Edges (of all cells) whose strongest op, or decided op, is skip_connect: the collapse signal.
    pub skip_count: usize,
    pub alphas: Vec<CellAlphas>,
    /// The architecture as it stands (decided edges, the rest by argmax).
    pub genotype: String,
    pub decisions: Vec<DecisionRecord>,
    /// What the policy did at the end of this epoch, if anything.
    pub event: Option<String>,
    /// Set when a later rollback undid this epoch.
    pub rolled_back: bool,
    pub epoch_time_s: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
}

/// λmax of one probe by the full Hessian and by Lanczos from a random start, on the weights and
/// batch the search's own (possibly warm-started) Lanczos used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LambdaCheck {
    pub full: f64,
    pub full_s: f64,
    pub full_hvps: usize,
    pub cold: f64,
    pub cold_s: f64,
    pub cold_hvps: usize,
}
