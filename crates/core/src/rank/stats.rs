//! Rank correlation and top-k agreement between a supernet's scores and the ground truth.
//!
//! Correlations follow scipy.stats exactly: [`kendall_tau_b`] is `kendalltau` (default variant 'b'),
//! [`spearman_rho`] is `spearmanr` (Pearson on average ranks), [`pearson_r`] is `pearsonr`.
//!
//! The top-k functions treat larger values as better on both sides; for a loss or an error rate
//! orient the values first with [`Better::orient`]. When ties straddle the cut-off of a top-k set,
//! the result is the *expectation over all ways of breaking the ties*: an item tied at the k-th place
//! counts as a fractional member. Benchmarks have large tie groups (every disconnected NB201 cell
//! scores exactly chance accuracy), and breaking them by row order would make bottom-k figures depend
//! on how the input happened to be sorted.

use serde::{Deserialize, Serialize};

use super::{check_finite, RankError};

/// Which end of a value scale is good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Accuracy, a supernet's validation accuracy.
    #[default]
    Higher,
    /// A loss or an error rate.
    Lower,
}

impl Better {
    /// The values on a higher-is-better scale (negated for [`Better::Lower`]); ranks and top-k
    /// sets of the result are those of the original under this orientation.
    pub fn orient(self, values: &[f64]) -> Vec<f64> {
        match self {
            Better::Higher => values.to_vec(),
            Better::Lower => values.iter().map(|v| -v).collect(),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Better::Higher => "higher is better",
            Better::Lower => "lower is better",
        }
    }
}

fn check_pair(what: &'static str, x: &[f64], y: &[f64], min: usize) -> Result<(), RankError> {
    if x.len() != y.len() {
        return Err(RankError::LengthMismatch { left_name: "x", left: x.len(), right_name: "y", right: y.len() });
    }
    if x.len() < min {
        return Err(RankError::TooFewPoints { what, n: x.len(), min });
    }
    check_finite("x", x)?;
    check_finite("y", y)
}

fn check_scores_truth(scores: &[f64], truth: &[f64]) -> Result<(), RankError> {
    if scores.len() != truth.len() {
        return Err(RankError::LengthMismatch {
            left_name: "scores",
            left: scores.len(),
            right_name: "truth",
            right: truth.len(),
        });
    }
    check_finite("scores", scores)?;
    check_finite("truth", truth)
}

/// Adding +0.0 turns -0.0 into +0.0, so `total_cmp` (which orders -0.0 below +0.0) agrees with `==`
/// on the finite values that reach it.
fn key(v: f64) -> f64 {
    v + 0.0
}

/// Dense integer codes preserving order and equality; the Kendall core then works on integers.
fn dense_codes(values: &[f64]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| key(values[a]).total_cmp(&key(values[b])));
    let mut codes = vec![0u32; values.len()];
    let mut code = 0u32;
    for w in 0..order.len() {
        if w > 0 && key(values[order[w]]) != key(values[order[w - 1]]) {
            code += 1;
        }
        codes[order[w]] = code;
    }
    codes
}

/// Σ t(t-1)/2 over runs of equal consecutive items, i.e. the number of tied pairs in sorted data.
fn tied_pairs<T: PartialEq>(sorted: impl Iterator<Item = T>) -> u64 {
    let mut total = 0u64;
    let mut run = 0u64;
    let mut prev: Option<T> = None;
    for item in sorted {
        if prev.as_ref() == Some(&item) {
            run += 1;
        } else {
            total += run * run.saturating_sub(1) / 2;
            run = 1;
        }
        prev = Some(item);
    }
    total + run * run.saturating_sub(1) / 2
}

/// Sorts `a` ascending and returns the number of pairs i < j with a[i] > a[j] (equal items are not
/// inversions). Bottom-up merge sort, so deep recursion cannot overflow the stack.
fn sort_counting_inversions(a: &mut [u32]) -> u64 {
    let n = a.len();
    let mut buf = vec![0u32; n];
    let mut inversions = 0u64;
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut o) = (lo, mid, lo);
            while i < mid && j < hi {
                if a[i] <= a[j] {
                    buf[o] = a[i];
                    i += 1;
                } else {
                    buf[o] = a[j];
                    j += 1;
                    inversions += (mid - i) as u64;
                }
                o += 1;
            }
            buf[o..o + (mid - i)].copy_from_slice(&a[i..mid]);
            o += mid - i;
            buf[o..o + (hi - j)].copy_from_slice(&a[j..hi]);
            lo = hi;
        }
        a.copy_from_slice(&buf);
        width *= 2;
    }
    inversions
}

/// Kendall's τ-b, as `scipy.stats.kendalltau(x, y)` (variant 'b', ties in either variable corrected
/// for). Knight's O(n log n) algorithm: sort by (x, y), then count the y-inversions with a merge sort.
pub fn kendall_tau_b(x: &[f64], y: &[f64]) -> Result<f64, RankError> {
    check_pair("Kendall tau-b", x, y, 2)?;
    let n = x.len();
    let cx = dense_codes(x);
    let cy = dense_codes(y);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by_key(|&i| (cx[i], cy[i]));
    let x_ties = tied_pairs(order.iter().map(|&i| cx[i]));
    let joint_ties = tied_pairs(order.iter().map(|&i| (cx[i], cy[i])));
    let mut ys: Vec<u32> = order.iter().map(|&i| cy[i]).collect();
    let discordant = sort_counting_inversions(&mut ys);
    let y_ties = tied_pairs(ys.iter());
    let total = n as u64 * (n as u64 - 1) / 2;
    if x_ties == total {
        return Err(RankError::Constant { which: "x", what: "Kendall tau-b", n });
    }
    if y_ties == total {
        return Err(RankError::Constant { which: "y", what: "Kendall tau-b", n });
    }
    // Pairs tied in x only are neither concordant nor discordant, nor are pairs tied in y only.
    let con_minus_dis = total as i128 - x_ties as i128 - y_ties as i128 + joint_ties as i128 - 2 * discordant as i128;
    let tau = con_minus_dis as f64 / ((total - x_ties) as f64).sqrt() / ((total - y_ties) as f64).sqrt();
    Ok(tau.clamp(-1.0, 1.0))
}

/// Ranks with 1 for the smallest value; tied values share the mean of the ranks they span
/// (`scipy.stats.rankdata(method='average')`).
pub fn average_ranks(values: &[f64]) -> Result<Vec<f64>, RankError> {
    check_finite("values", values)?;
    Ok(average_ranks_unchecked(values))
}

pub(crate) fn average_ranks_unchecked(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_unstable_by(|&a, &b| key(values[a]).total_cmp(&key(values[b])));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && key(values[order[end]]) == key(values[order[start]]) {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their mean is (start + 1 + end) / 2.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's ρ: Pearson's r of the average ranks (`scipy.stats.spearmanr`).
pub fn spearman_rho(x: &[f64], y: &[f64]) -> Result<f64, RankError> {
    check_pair("Spearman rho", x, y, 2)?;
    pearson_unchecked("Spearman rho", &average_ranks_unchecked(x), &average_ranks_unchecked(y))
}

/// Pearson's product-moment correlation (`scipy.stats.pearsonr`).
pub fn pearson_r(x: &[f64], y: &[f64]) -> Result<f64, RankError> {
    check_pair("Pearson r", x, y, 2)?;
    pearson_unchecked("Pearson r", x, y)
}

fn pearson_unchecked(what: &'static str, x: &[f64], y: &[f64]) -> Result<f64, RankError> {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    // Centring first keeps the sums well conditioned for accuracies around 90 with tiny spreads.
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(RankError::Constant { which: "x", what, n: x.len() });
    }
    if syy == 0.0 {
        return Err(RankError::Constant { which: "y", what, n: y.len() });
    }
    Ok((sxy / sxx.sqrt() / syy.sqrt()).clamp(-1.0, 1.0))
}

/// For each item, the probability that it belongs to the k largest values when ties at the cut-off
/// are broken uniformly at random: 1 above the k-th value, m/t for the t items tied with it of which
/// m are needed to fill k, 0 below.
fn top_membership(values: &[f64], k: usize) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().map(|&v| key(v)).collect();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let cut = sorted[k - 1];
    let above = sorted.partition_point(|v| v.total_cmp(&cut).is_gt());
    let tied = sorted[above..].partition_point(|v| v.total_cmp(&cut).is_eq());
    let fraction = (k - above) as f64 / tied as f64;
    values
        .iter()
        .map(|&v| match key(v).total_cmp(&cut) {
            std::cmp::Ordering::Greater => 1.0,
            std::cmp::Ordering::Equal => fraction,
            std::cmp::Ordering::Less => 0.0,
        })
        .collect()
}

fn check_k(n: usize, k: usize) -> Result<(), RankError> {
    if k == 0 || k > n {
        return Err(RankError::BadK { k, n });
    }
    Ok(())
}

/// |top-k by score ∩ top-k by truth| / k, averaged over tie-breaks at both cut-offs (see the module
/// docs). Random scores give k/n in expectation.
pub fn precision_at_k(scores: &[f64], truth: &[f64], k: usize) -> Result<f64, RankError> {
    check_scores_truth(scores, truth)?;
    check_k(scores.len(), k)?;
    let ps = top_membership(scores, k);
    let pt = top_membership(truth, k);
    // The two tie-breaks are independent, so the expected overlap is Σ P(in both) = Σ ps·pt.
    Ok(ps.iter().zip(&pt).map(|(a, b)| a * b).sum::<f64>() / k as f64)
}

/// [`precision_at_k`] for the k worst: how well the scores identify the architectures to prune.
pub fn bottom_precision_at_k(scores: &[f64], truth: &[f64], k: usize) -> Result<f64, RankError> {
    check_scores_truth(scores, truth)?;
    precision_at_k(&Better::Lower.orient(scores), &Better::Lower.orient(truth), k)
}

/// The size of the top `percent`% of `n` items: ⌈n·p/100⌉, at least 1. The small slack keeps
/// 100 × 0.07 (= 7.000000000000001) from rounding up to 8.
pub fn percent_to_k(n: usize, percent: f64) -> Result<usize, RankError> {
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(RankError::BadPercent { percent });
    }
    if n == 0 {
        return Err(RankError::TooFewPoints { what: "a top-percent set", n, min: 1 });
    }
    let k = (n as f64 * percent / 100.0 - 1e-9).ceil() as usize;
    Ok(k.clamp(1, n))
}

/// The fraction of the predicted top `percent`% that is in the true top `percent`%; this is
/// [`precision_at_k`] with k = [`percent_to_k`].
pub fn top_percent_hit(scores: &[f64], truth: &[f64], percent: f64) -> Result<f64, RankError> {
    check_scores_truth(scores, truth)?;
    precision_at_k(scores, truth, percent_to_k(scores.len(), percent)?)
}

/// [`top_percent_hit`] for the worst `percent`%.
pub fn bottom_percent_hit(scores: &[f64], truth: &[f64], percent: f64) -> Result<f64, RankError> {
    check_scores_truth(scores, truth)?;
    bottom_precision_at_k(scores, truth, percent_to_k(scores.len(), percent)?)
}

/// The ground-truth ranks of the k best-scored items, best score first. A truth rank is 1 + the
/// number of items with strictly higher truth (so tied items share a rank, as in
/// [`crate::bench::Nb201Table::rank`]). Items tied on score are taken in input order, because a
/// list of concrete ranks cannot be fractional.
pub fn truth_rank_of_best(scores: &[f64], truth: &[f64], k: usize) -> Result<Vec<usize>, RankError> {
    check_scores_truth(scores, truth)?;
    check_k(scores.len(), k)?;
    let mut by_score: Vec<usize> = (0..scores.len()).collect();
    by_score.sort_by(|&a, &b| key(scores[b]).total_cmp(&key(scores[a])));
    let mut sorted_truth: Vec<f64> = truth.iter().map(|&v| key(v)).collect();
    sorted_truth.sort_unstable_by(|a, b| b.total_cmp(a));
    Ok(by_score[..k]
        .iter()
        .map(|&i| 1 + sorted_truth.partition_point(|v| v.total_cmp(&key(truth[i])).is_gt()))
        .collect())
}

/// Ranks with 1 for the best under `better`, ties averaged: the scale rank errors are measured on.
pub(crate) fn best_first_ranks(values: &[f64], better: Better) -> Vec<f64> {
    average_ranks_unchecked(&Better::Lower.orient(&better.orient(values)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Column, Nb201Table};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    macro_rules! assert_close {
        ($a:expr, $b:expr, $tol:expr) => {{
            let (a, b): (f64, f64) = ($a, $b);
            assert!(close(a, b, $tol), "{} = {a} but expected {b} (tolerance {})", stringify!($a), $tol);
        }};
    }

    /// O(n²) τ-b straight from the definition, to cross-check Knight's algorithm.
    fn naive_tau_b(x: &[f64], y: &[f64]) -> f64 {
        let (mut c, mut d, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
        for i in 0..x.len() {
            for j in i + 1..x.len() {
                let sx = (x[i] - x[j]).signum() as i64 * (x[i] != x[j]) as i64;
                let sy = (y[i] - y[j]).signum() as i64 * (y[i] != y[j]) as i64;
                match (sx, sy) {
                    (0, 0) => {}
                    (0, _) => tx += 1,
                    (_, 0) => ty += 1,
                    _ if sx == sy => c += 1,
                    _ => d += 1,
                }
            }
        }
        (c - d) as f64 / (((c + d + tx) * (c + d + ty)) as f64).sqrt()
    }

    /// Deterministic test data with many ties, reproduced exactly in the scipy script quoted below:
    /// a = (i·7919) mod 61, b = (a + (i·31) mod 37) div 3, x = a/2, y = b - 10.
    fn tied_series(n: usize) -> (Vec<f64>, Vec<f64>) {
        (0..n)
            .map(|i| {
                let a = (i * 7919) % 61;
                let b = (a + (i * 31) % 37) / 3;
                (a as f64 * 0.5, b as f64 - 10.0)
            })
            .unzip()
    }

    #[test]
    fn tau_b_hand_cases() {
        // No ties: pairs (1,2)(1,3)(2,3) over x=[1,2,3], y=[1,3,2] are C, C, D ⇒ (2-1)/3.
        assert_close!(kendall_tau_b(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).unwrap(), 1.0 / 3.0, 1e-15);
        assert_close!(kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap(), -1.0, 1e-15);
        // x=[1,1,2,3], y=[1,2,2,3]: pairs 12 tie-x, 13 C, 14 C, 23 tie-y, 24 C, 34 C ⇒ C=4, D=0,
        // n0=6, n1=1, n2=1 ⇒ 4/sqrt(5·5) = 0.8.
        assert_close!(kendall_tau_b(&[1.0, 1.0, 2.0, 3.0], &[1.0, 2.0, 2.0, 3.0]).unwrap(), 0.8, 1e-15);
        // A pair tied in both counts in neither n1-n3 nor C/D: x=[1,1,2], y=[5,5,6] ⇒ C=2,
        // n0=3, n1=1, n2=1 ⇒ 2/sqrt(2·2) = 1.
        assert_close!(kendall_tau_b(&[1.0, 1.0, 2.0], &[5.0, 5.0, 6.0]).unwrap(), 1.0, 1e-15);
        // -0.0 and 0.0 are the same value: x=[-0,0,1], y=[0,1,2] ⇒ C=2, tie-x 1 ⇒ 2/sqrt(2·3).
        assert_close!(kendall_tau_b(&[-0.0, 0.0, 1.0], &[0.0, 1.0, 2.0]).unwrap(), 2.0 / 6f64.sqrt(), 1e-15);
    }

    #[test]
    fn tau_b_matches_definition_on_tied_data() {
        let (x, y) = tied_series(257);
        assert_close!(kendall_tau_b(&x, &y).unwrap(), naive_tau_b(&x, &y), 1e-12);
        let coarse: Vec<f64> = x.iter().map(|v| (v / 7.0).floor()).collect();
        assert_close!(kendall_tau_b(&coarse, &y).unwrap(), naive_tau_b(&coarse, &y), 1e-12);
    }

    #[test]
    fn average_ranks_hand_case() {
        // Sorted: 1, 2, 2, 5, 7, 7 ⇒ ranks 1, (2+3)/2, 4, (5+6)/2.
        let r = average_ranks(&[5.0, 2.0, 1.0, 2.0, 7.0, 7.0]).unwrap();
        assert_eq!(r, vec![4.0, 2.5, 1.0, 2.5, 5.5, 5.5]);
    }

    #[test]
    fn spearman_and_pearson_hand_cases() {
        // Ranks of y=[10,30,20,40] are [1,3,2,4]; d² = 0+1+1+0 = 2 ⇒ ρ = 1 - 6·2/(4·15) = 0.8.
        assert_close!(spearman_rho(&[1.0, 2.0, 3.0, 4.0], &[10.0, 30.0, 20.0, 40.0]).unwrap(), 0.8, 1e-15);
        // Deviations (-1,0,1) and (-2,1,1): Σxy = 3, Σx² = 2, Σy² = 6 ⇒ 3/sqrt(12).
        assert_close!(pearson_r(&[1.0, 2.0, 3.0], &[0.0, 3.0, 3.0]).unwrap(), 3.0 / 12f64.sqrt(), 1e-15);
        // With ties Spearman is Pearson on ranks [1,2,3] vs [1,2.5,2.5]; the y-rank deviations
        // (-1,0.5,0.5) are ∝ (-2,1,1), so the value is the same 3/sqrt(12).
        assert_close!(spearman_rho(&[1.0, 2.0, 3.0], &[0.0, 3.0, 3.0]).unwrap(), 3.0 / 12f64.sqrt(), 1e-15);
    }

    #[test]
    fn correlations_match_scipy_on_tied_series() {
        // Golden values from scipy 1.17.1:
        //   import numpy as np, scipy.stats as st
        //   i = np.arange(300); a = (i*7919) % 61; b = (a + (i*31) % 37) // 3
        //   x = a*0.5; y = b - 10.0
        //   st.kendalltau(x, y).statistic, st.spearmanr(x, y).statistic, st.pearsonr(x, y).statistic
        let (x, y) = tied_series(300);
        assert_close!(kendall_tau_b(&x, &y).unwrap(), SCIPY_TAU_300, 1e-12);
        assert_close!(spearman_rho(&x, &y).unwrap(), SCIPY_RHO_300, 1e-12);
        assert_close!(pearson_r(&x, &y).unwrap(), SCIPY_R_300, 1e-12);
        // The pairs above are all distinct; xc = np.floor(x / 7.0) leaves 75 distinct (x, y) pairs,
        // so pairs tied in both variables occur too. Same scipy calls on (xc, y).
        let xc: Vec<f64> = x.iter().map(|v| (v / 7.0).floor()).collect();
        assert_close!(kendall_tau_b(&xc, &y).unwrap(), 0.7040524785654279, 1e-12);
        assert_close!(spearman_rho(&xc, &y).unwrap(), 0.846234850516323, 1e-12);
        assert_close!(pearson_r(&xc, &y).unwrap(), 0.8336958543358409, 1e-12);
    }

    const SCIPY_TAU_300: f64 = 0.679729801444298;
    const SCIPY_RHO_300: f64 = 0.8609469858280542;
    const SCIPY_R_300: f64 = 0.8558117411412739;

    #[test]
    fn precision_hand_cases() {
        // Distinct values: top-2 by score {0,1}, by truth {0,2} ⇒ 1/2.
        assert_close!(precision_at_k(&[4.0, 3.0, 2.0, 1.0], &[9.0, 1.0, 8.0, 0.0], 2).unwrap(), 0.5, 0.0);
        // Score tie at the cut: items 1 and 2 each in the top-2 with probability 1/2; truth top-2 is
        // {0,1} ⇒ (1 + 1/2) / 2 = 0.75.
        assert_close!(precision_at_k(&[3.0, 2.0, 2.0, 1.0], &[4.0, 3.0, 2.0, 1.0], 2).unwrap(), 0.75, 1e-15);
        // Ties on both sides: scores top-1 is item 0 or 1 (½ each), truth top-1 item 1 or 2 (½ each);
        // P(same item) = ½·½ for item 1 ⇒ 0.25.
        assert_close!(precision_at_k(&[5.0, 5.0, 1.0], &[0.0, 7.0, 7.0], 1).unwrap(), 0.25, 1e-15);
        // Bottom-2 of scores {2,3}, of truth {1,3} ⇒ 1/2.
        assert_close!(bottom_precision_at_k(&[4.0, 3.0, 2.0, 1.0], &[9.0, 1.0, 8.0, 0.0], 2).unwrap(), 0.5, 0.0);
        // Perfect and reversed rankings.
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        let rev = [5.0, 4.0, 3.0, 2.0, 1.0];
        assert_eq!(precision_at_k(&s, &s, 2).unwrap(), 1.0);
        assert_eq!(precision_at_k(&s, &rev, 2).unwrap(), 0.0);
        assert_eq!(bottom_precision_at_k(&s, &rev, 2).unwrap(), 0.0);
        assert_eq!(precision_at_k(&s, &rev, 5).unwrap(), 1.0);
    }

    #[test]
    fn precision_with_ties_matches_brute_force_over_tie_breaks() {
        // Golden value from an independent Python brute force: the mean over all 8! orderings of
        // |first 3 of scores sorted desc (stable on the permuted order) ∩ same for truth| / 3,
        // each side permuted independently (itertools.permutations, fractions.Fraction):
        //   scores = [3,3,2,2,2,1,1,0], truth = [5,4,4,4,3,3,0,0] ⇒ top-3 19/27, bottom-3 5/6.
        // By hand: score top-3 = {0,1} + one of {2,3,4}; truth top-3 = {0} + two of {1,2,3}
        // ⇒ (1 + 2/3 + 2·(1/3)(2/3)) / 3 = 19/27.
        let scores = [3.0, 3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 0.0];
        let truth = [5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 0.0, 0.0];
        assert_close!(precision_at_k(&scores, &truth, 3).unwrap(), BRUTE_TOP3, 1e-15);
        assert_close!(bottom_precision_at_k(&scores, &truth, 3).unwrap(), BRUTE_BOTTOM3, 1e-15);
    }

    const BRUTE_TOP3: f64 = 19.0 / 27.0;
    const BRUTE_BOTTOM3: f64 = 5.0 / 6.0;

    #[test]
    fn percent_and_truth_rank() {
        assert_eq!(percent_to_k(15_625, 10.0).unwrap(), 1563);
        assert_eq!(percent_to_k(100, 7.0).unwrap(), 7);
        assert_eq!(percent_to_k(5, 1.0).unwrap(), 1);
        assert_eq!(percent_to_k(5, 100.0).unwrap(), 5);
        assert!(matches!(percent_to_k(5, 0.0), Err(RankError::BadPercent { .. })));
        assert!(matches!(percent_to_k(5, f64::NAN), Err(RankError::BadPercent { .. })));
        assert!(matches!(percent_to_k(5, 150.0), Err(RankError::BadPercent { .. })));

        // 10 items; top 20% = 2. Scores best: items 9, 8; truth top-2: items 0, 9 ⇒ 1/2.
        let scores: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let truth = [100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 50.0];
        assert_close!(top_percent_hit(&scores, &truth, 20.0).unwrap(), 0.5, 0.0);
        // Bottom 20%: scores {0,1}, truth {1,2} ⇒ 1/2.
        assert_close!(bottom_percent_hit(&scores, &truth, 20.0).unwrap(), 0.5, 0.0);
        // Truth ranks of the 3 best-scored (items 9, 8, 7): 50 → 2, 8 → 3, 7 → 4.
        assert_eq!(truth_rank_of_best(&scores, &truth, 3).unwrap(), vec![2, 3, 4]);
        // Competition ranks for tied truth: two items at 9 share rank 1, the next is 3.
        assert_eq!(truth_rank_of_best(&[3.0, 2.0, 1.0], &[9.0, 9.0, 8.0], 3).unwrap(), vec![1, 1, 3]);
        assert_eq!(best_first_ranks(&[9.0, 9.0, 8.0], Better::Higher), vec![1.5, 1.5, 3.0]);
        assert_eq!(best_first_ranks(&[9.0, 9.0, 8.0], Better::Lower), vec![2.5, 2.5, 1.0]);
    }

    #[test]
    fn errors_name_the_problem() {
        let e = kendall_tau_b(&[1.0, 2.0], &[1.0]).unwrap_err();
        assert!(matches!(e, RankError::LengthMismatch { left: 2, right: 1, .. }), "{e}");
        let e = spearman_rho(&[1.0], &[1.0]).unwrap_err();
        assert!(matches!(e, RankError::TooFewPoints { n: 1, min: 2, .. }), "{e}");
        let e = pearson_r(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(matches!(e, RankError::NaN { which: "x", index: 1 }), "{e}");
        assert!(e.to_string().contains("NaN"), "{e}");
        let e = precision_at_k(&[1.0, 2.0], &[1.0, f64::INFINITY], 1).unwrap_err();
        assert!(matches!(e, RankError::Infinite { which: "truth", index: 1, .. }), "{e}");
        let e = kendall_tau_b(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(matches!(e, RankError::Constant { which: "x", .. }), "{e}");
        let e = spearman_rho(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]).unwrap_err();
        assert!(matches!(e, RankError::Constant { which: "y", .. }), "{e}");
        assert!(matches!(precision_at_k(&[1.0, 2.0], &[1.0, 2.0], 0), Err(RankError::BadK { k: 0, n: 2 })));
        assert!(matches!(precision_at_k(&[1.0, 2.0], &[1.0, 2.0], 3), Err(RankError::BadK { k: 3, n: 2 })));
        assert!(matches!(truth_rank_of_best(&[], &[], 1), Err(RankError::BadK { k: 1, n: 0 })));
        assert!(matches!(average_ranks(&[f64::NAN]), Err(RankError::NaN { .. })));
    }

    fn column(c: Column) -> Vec<f64> {
        Nb201Table::embedded().rows().map(|r| r.value(c)).collect()
    }

    #[test]
    fn nb201_column_correlations_match_readme_and_scipy() {
        // Golden values from scipy 1.17.1 on shared/data/nasbench201/nb201_accuracies.csv:
        //   x, y = (np.array([float(r[c]) for r in csv.DictReader(open(path))]) for c in (a, b))
        //   st.spearmanr(x, y).statistic, st.kendalltau(x, y).statistic
        // The data README quotes the Spearman figures to 3 decimals.
        use Column::*;
        let cases = [
            (Cifar10Test200ep, Cifar100Test200ep, 0.980, NB201_GOLDEN[0]),
            (Cifar10Test200ep, ImageNet16Test200ep, 0.959, NB201_GOLDEN[1]),
            (Cifar100Test200ep, ImageNet16Test200ep, 0.964, NB201_GOLDEN[2]),
            (Cifar10Test12ep, Cifar10Test200ep, 0.871, NB201_GOLDEN[3]),
        ];
        for (a, b, readme, (rho, tau)) in cases {
            let (x, y) = (column(a), column(b));
            let got_rho = spearman_rho(&x, &y).unwrap();
            let got_tau = kendall_tau_b(&x, &y).unwrap();
            assert!((got_rho - readme).abs() < 5e-4, "{a} vs {b}: rho {got_rho} vs README {readme}");
            assert_close!(got_rho, rho, 1e-10);
            assert_close!(got_tau, tau, 1e-10);
        }
    }

    /// (Spearman ρ, Kendall τ-b) per case, printed by the scipy call quoted in the test.
    const NB201_GOLDEN: [(f64, f64); 4] = [
        (0.9801721634332403, 0.8819568821873827),
        (0.959274333716084, 0.8395990050096594),
        (0.9635988735792811, 0.8465133676911061),
        (0.870513653123434, 0.7000564126013886),
    ];
}
