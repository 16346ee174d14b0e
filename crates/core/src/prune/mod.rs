//! Supernet-guided pruning of a search space, and the split of a space into groups for reduced
//! weight sharing: the two experiments behind findings 4 and 5 of "How Does Supernet Help in NAS?"
//! (Zhang, Zhang & Yang 2020) and its study of the capacity of weight sharing.
//!
//! This module is the bookkeeping only (which architectures survive a round, marginal scores of
//! choices, the random baseline, what a round reports); training and scoring are the engine's. It
//! sees a space through [`RankSpace`], so every space with per-slot choices gets op pruning and
//! few-shot splits, and every space gets architecture pruning.

pub mod record;
pub mod split;

use crate::oneshot::{ArchError, RankSpace};
use rand::seq::{IndexedRandom, SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use record::{RoundRecord, TruthSummary};
pub use split::{split_by_slots, SplitError};

/// What one pruning step removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PruneUnit {
    /// The worst-scored surviving architectures.
    Arch,
    /// The choices (an op on an edge) with the lowest marginal score: the mean score of the scored
    /// survivors that make that choice. Every architecture making a removed choice goes.
    Op,
}

/// How the removed fraction is picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PruneMethod {
    /// By supernet score, as above.
    Supernet,
    /// The baseline: the same number of architectures (or choices), drawn at random.
    Random,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("architecture pruning needs a score for every survivor, and {missing} of {total} have none (first: {first}); score all survivors (prune.score_sample = 0)")]
    Unscored { missing: usize, total: usize, first: String },
    #[error("op pruning needs per-slot choices, and the {0} space has none; use prune.unit = \"arch\"")]
    NoSlots(&'static str),
    #[error(transparent)]
    Arch(#[from] ArchError),
    #[error("nothing is left to prune: {0}")]
    Exhausted(String),
}

/// One choice of one slot ("nor_conv_3x3 on 2<-1").
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Choice {
    pub slot: String,
    pub op: String,
}

/// A choice with the mean score of the scored survivors that make it (`None` when none is scored,
/// as in the random baseline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marginal {
    pub choice: Choice,
    pub mean_score: Option<f64>,
    pub scored: usize,
}

/// What one step removed and what survives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub survivors: Vec<String>,
    pub removed_archs: usize,
    /// The removed choices, for op pruning (empty for architecture pruning).
    pub removed_choices: Vec<Marginal>,
}

/// How many of `n` things a fraction removes: at least one, never all.
pub fn removal_count(n: usize, fraction: f64) -> usize {
    if n < 2 {
        return 0;
    }
    ((n as f64 * fraction).round() as usize).clamp(1, n - 1)
}

/// Removes the `fraction` of `survivors` with the lowest scores (ties: the larger canonical string
/// goes first, so the outcome does not depend on the order scores arrived in).
pub fn prune_archs(survivors: &[String], scores: &BTreeMap<String, f64>, fraction: f64) -> Result<Step, PruneError> {
    let missing: Vec<&String> = survivors.iter().filter(|a| !scores.contains_key(*a)).collect();
    if let Some(first) = missing.first() {
        return Err(PruneError::Unscored { missing: missing.len(), total: survivors.len(), first: first.to_string() });
    }
    let mut order: Vec<&String> = survivors.iter().collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]).then_with(|| b.cmp(a)));
    let gone: BTreeSet<&String> = order.into_iter().take(removal_count(survivors.len(), fraction)).collect();
    Ok(keep(survivors, |a| !gone.contains(a), vec![]))
}

/// The random baseline of [`prune_archs`]: as many architectures, drawn with `rng`.
pub fn random_archs(survivors: &[String], fraction: f64, rng: &mut ChaCha8Rng) -> Step {
    let gone: BTreeSet<&String> = survivors.choose_multiple(rng, removal_count(survivors.len(), fraction)).collect();
    keep(survivors, |a| !gone.contains(a), vec![])
}

/// Mean score per choice over the scored survivors, for every choice some survivor makes (choices
/// no scored survivor makes have `scored = 0` and no mean).
pub fn marginals(
    survivors: &[String],
    scores: &BTreeMap<String, f64>,
    space: &dyn RankSpace,
) -> Result<Vec<Marginal>, PruneError> {
    let slots = space.slots();
    if slots.is_empty() {
        return Err(PruneError::NoSlots(space.name()));
    }
    let mut acc: BTreeMap<Choice, (f64, usize)> = BTreeMap::new();
    for arch in survivors {
        let score = scores.get(arch);
        for (slot, op) in slots.iter().zip(space.choices(arch)?) {
            let e = acc.entry(Choice { slot: slot.clone(), op }).or_insert((0.0, 0));
            if let Some(s) = score {
                e.0 += s;
                e.1 += 1;
            }
        }
    }
    Ok(acc
        .into_iter()
        .map(|(choice, (sum, n))| Marginal { choice, mean_score: (n > 0).then(|| sum / n as f64), scored: n })
        .collect())
}

/// Removes the `fraction` of the surviving choices with the lowest marginal score. A slot keeps at
/// least one choice, and a choice no scored survivor makes is not judged (it stays).
pub fn prune_ops(
    survivors: &[String],
    scores: &BTreeMap<String, f64>,
    space: &dyn RankSpace,
    fraction: f64,
) -> Result<Step, PruneError> {
    let all = marginals(survivors, scores, space)?;
    let mut candidates: Vec<(&Marginal, f64)> = all.iter().filter_map(|m| Some((m, m.mean_score?))).collect();
    candidates.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.choice.cmp(&a.0.choice)));
    let candidates: Vec<&Marginal> = candidates.into_iter().map(|(m, _)| m).collect();
    remove_choices(survivors, space, &all, candidates, removal_count(all.len(), fraction))
}

/// The random baseline of [`prune_ops`]: as many choices, drawn with `rng`, under the same rule
/// that every slot keeps one.
pub fn random_ops(
    survivors: &[String],
    space: &dyn RankSpace,
    fraction: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Step, PruneError> {
    let all = marginals(survivors, &BTreeMap::new(), space)?;
    let mut candidates: Vec<&Marginal> = all.iter().collect();
    candidates.shuffle(rng);
    remove_choices(survivors, space, &all, candidates, removal_count(all.len(), fraction))
}

/// Takes up to `count` choices from `candidates` in order, skipping any whose slot would be left
/// empty, and keeps the survivors that make none of them.
fn remove_choices(
    survivors: &[String],
    space: &dyn RankSpace,
    all: &[Marginal],
    candidates: Vec<&Marginal>,
    count: usize,
) -> Result<Step, PruneError> {
    let mut left: BTreeMap<&str, usize> = BTreeMap::new();
    for m in all {
        *left.entry(m.choice.slot.as_str()).or_default() += 1;
    }
    let mut removed: Vec<Marginal> = vec![];
    for m in candidates {
        if removed.len() == count {
            break;
        }
        let n = left.get_mut(m.choice.slot.as_str()).expect("every candidate's slot is counted");
        if *n > 1 {
            *n -= 1;
            removed.push(m.clone());
        }
    }
    if removed.is_empty() {
        return Err(PruneError::Exhausted(format!("every slot is down to one choice ({} survivors)", survivors.len())));
    }
    let gone: BTreeSet<&Choice> = removed.iter().map(|m| &m.choice).collect();
    let slots = space.slots();
    let mut kept = vec![];
    for arch in survivors {
        let makes_a_removed_choice =
            slots.iter().zip(space.choices(arch)?).any(|(slot, op)| gone.contains(&Choice { slot: slot.clone(), op }));
        if !makes_a_removed_choice {
            kept.push(arch.clone());
        }
    }
    let removed_archs = survivors.len() - kept.len();
    Ok(Step { survivors: kept, removed_archs, removed_choices: removed })
}

fn keep(survivors: &[String], f: impl Fn(&String) -> bool, removed_choices: Vec<Marginal>) -> Step {
    let kept: Vec<String> = survivors.iter().filter(|a| f(a)).cloned().collect();
    Step { removed_archs: survivors.len() - kept.len(), survivors: kept, removed_choices }
}

/// The survivors a round scores: all of them (`sample = 0` or at least as many as there are), or
/// `sample` of them drawn with `rng`, in survivor order.
pub fn to_score(survivors: &[String], sample: usize, rng: &mut ChaCha8Rng) -> Vec<String> {
    if sample == 0 || sample >= survivors.len() {
        return survivors.to_vec();
    }
    let picked: BTreeSet<&String> = survivors.choose_multiple(rng, sample).collect();
    survivors.iter().filter(|a| picked.contains(a)).cloned().collect()
}

#[cfg(test)]
mod tests;
