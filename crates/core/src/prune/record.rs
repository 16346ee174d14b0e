//! What a pruning round reports: the survivors' ground-truth distribution, how many of the truly
//! best architectures survived, and the best survivor by supernet score.

use super::{Marginal, PruneMethod, PruneUnit};
use crate::rank::GroundTruth;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Ground truth of a set of architectures (those the truth covers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruthSummary {
    /// Architectures with a known truth value.
    pub known: usize,
    pub min: f64,
    pub q25: f64,
    pub median: f64,
    pub q75: f64,
    pub max: f64,
    pub mean: f64,
    /// How many of the initial pool's true top-1% (top-10%) are among the architectures, and how
    /// many there were.
    pub top1_kept: usize,
    pub top1_total: usize,
    pub top10_kept: usize,
    pub top10_total: usize,
}

/// The architectures of `pool` whose truth is in the top `percent` (at least one; ties at the
/// boundary broken by canonical string, so the set is the same whatever the pool's order).
pub fn top_percent(pool: &[String], truth: &GroundTruth, percent: f64) -> BTreeSet<String> {
    let mut known: Vec<(&String, f64)> = pool.iter().filter_map(|a| truth.get(a).map(|t| (a, t))).collect();
    known.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let k = ((known.len() as f64 * percent / 100.0).ceil() as usize).clamp(1.min(known.len()), known.len());
    known.into_iter().take(k).map(|(a, _)| a.clone()).collect()
}

/// Linear interpolation between order statistics (NumPy's default `percentile`).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl TruthSummary {
    /// `None` when the truth knows none of `archs`.
    pub fn of(
        archs: &[String],
        truth: &GroundTruth,
        top1: &BTreeSet<String>,
        top10: &BTreeSet<String>,
    ) -> Option<TruthSummary> {
        let mut v: Vec<f64> = archs.iter().filter_map(|a| truth.get(a)).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let kept = |set: &BTreeSet<String>| archs.iter().filter(|a| set.contains(*a)).count();
        Some(TruthSummary {
            known: v.len(),
            min: v[0],
            q25: quantile(&v, 0.25),
            median: quantile(&v, 0.5),
            q75: quantile(&v, 0.75),
            max: v[v.len() - 1],
            mean: v.iter().sum::<f64>() / v.len() as f64,
            top1_kept: kept(top1),
            top1_total: top1.len(),
            top10_kept: kept(top10),
            top10_total: top10.len(),
        })
    }
}

/// The best survivor by supernet score, and its truth where known.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub arch: String,
    pub score: f64,
    pub truth: Option<f64>,
}

/// One line of `prune.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    /// 1-based.
    pub round: usize,
    pub method: PruneMethod,
    pub unit: PruneUnit,
    pub survivors_before: usize,
    /// Architectures scored this round (0 for the random baseline, which needs no scores).
    pub scored: usize,
    pub removed_archs: usize,
    pub removed_choices: Vec<Marginal>,
    pub survivors_after: usize,
    /// Among the scored survivors that are still alive after the round.
    pub best_by_score: Option<Best>,
    pub truth_before: Option<TruthSummary>,
    pub truth_after: Option<TruthSummary>,
    /// Seconds spent training and scoring this round.
    pub train_s: f64,
    pub score_s: f64,
}
