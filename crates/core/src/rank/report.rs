//! [`RankReport`]: how well a supernet's scores rank architectures against the ground truth, in
//! the terms of Zhang et al. (2020; docs/algorithms.md#ranking): global rank correlation, whether it
//! finds the top-k or top-p%, where its favourites really rank, and whether it is better at pruning
//! the worst than picking the best.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::scores::Joined;
use super::stats::{self, Better};
use super::{check_finite, RankError};

/// What to put in a [`RankReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankOptions {
    /// k values for top-k and bottom-k precision; those above the number of points are skipped.
    pub ks: Vec<usize>,
    /// Percentages for the top-p% and bottom-p% hit rates, each in (0, 100].
    pub percents: Vec<f64>,
    /// How many of the best-scored architectures to list with their ground-truth ranks.
    pub best_k: usize,
    pub score_better: Better,
    pub truth_better: Better,
}

impl Default for RankOptions {
    /// Zhang et al. contrast the top 10% with the top 1%, hence those percentages.
    fn default() -> Self {
        RankOptions {
            ks: vec![1, 5, 10, 50, 100],
            percents: vec![1.0, 5.0, 10.0],
            best_k: 10,
            score_better: Better::Higher,
            truth_better: Better::Higher,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct KValue {
    pub k: usize,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentValue {
    pub percent: f64,
    /// The set size the percentage came to, see [`stats::percent_to_k`].
    pub k: usize,
    pub value: f64,
}

/// Ranking quality of one set of (score, truth) pairs. Correlations are taken after orienting both
/// sides to higher-is-better, so a positive value always means the supernet agrees with the truth.
/// Ground-truth ranks are among the `n` evaluated architectures, 1 = best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankReport {
    pub n: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truth_name: Option<String>,
    pub score_better: Better,
    pub truth_better: Better,
    pub kendall_tau_b: f64,
    pub spearman_rho: f64,
    pub pearson_r: f64,
    pub precision_at_k: Vec<KValue>,
    pub bottom_precision_at_k: Vec<KValue>,
    pub top_percent_hit: Vec<PercentValue>,
    pub bottom_percent_hit: Vec<PercentValue>,
    /// Ground-truth ranks of the supernet's `best_k` favourites, best score first.
    pub best_k_truth_ranks: Vec<usize>,
    /// The best of [`RankReport::best_k_truth_ranks`]: what a search keeping that many would get.
    pub best_truth_rank: Option<usize>,
    /// Requested k values larger than `n`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_k: Vec<usize>,
    pub verdict: String,
}

impl RankReport {
    pub fn compute(scores: &[f64], truth: &[f64], opts: &RankOptions) -> Result<RankReport, RankError> {
        if scores.len() != truth.len() {
            return Err(RankError::LengthMismatch {
                left_name: "scores",
                left: scores.len(),
                right_name: "truth",
                right: truth.len(),
            });
        }
        let n = scores.len();
        if n < 2 {
            return Err(RankError::TooFewPoints { what: "a ranking report", n, min: 2 });
        }
        check_finite("scores", scores)?;
        check_finite("truth", truth)?;
        // Named checks here, because the correlation functions only know their inputs as x and y.
        for (which, v) in [("scores", scores), ("truth", truth)] {
            if v.iter().all(|&a| a == v[0]) {
                return Err(RankError::Constant { which, what: "a ranking report", n });
            }
        }
        let s = opts.score_better.orient(scores);
        let t = opts.truth_better.orient(truth);

        let mut ks = opts.ks.clone();
        ks.sort_unstable();
        ks.dedup();
        if ks.first() == Some(&0) {
            return Err(RankError::BadK { k: 0, n });
        }
        let (ks, skipped_k): (Vec<usize>, Vec<usize>) = ks.into_iter().partition(|&k| k <= n);
        let mut precision_at_k = Vec::with_capacity(ks.len());
        let mut bottom_precision_at_k = Vec::with_capacity(ks.len());
        for &k in &ks {
            precision_at_k.push(KValue { k, value: stats::precision_at_k(&s, &t, k)? });
            bottom_precision_at_k.push(KValue { k, value: stats::bottom_precision_at_k(&s, &t, k)? });
        }

        let mut top_percent_hit = Vec::new();
        let mut bottom_percent_hit = Vec::new();
        for &percent in &opts.percents {
            let k = stats::percent_to_k(n, percent)?;
            top_percent_hit.push(PercentValue { percent, k, value: stats::precision_at_k(&s, &t, k)? });
            bottom_percent_hit.push(PercentValue { percent, k, value: stats::bottom_precision_at_k(&s, &t, k)? });
        }

        let best_k = opts.best_k.min(n);
        let best_k_truth_ranks = if best_k == 0 { Vec::new() } else { stats::truth_rank_of_best(&s, &t, best_k)? };
        let best_truth_rank = best_k_truth_ranks.iter().copied().min();

        let kendall_tau_b = stats::kendall_tau_b(&s, &t)?;
        let mut report = RankReport {
            n,
            truth_name: None,
            score_better: opts.score_better,
            truth_better: opts.truth_better,
            kendall_tau_b,
            spearman_rho: stats::spearman_rho(&s, &t)?,
            pearson_r: stats::pearson_r(&s, &t)?,
            precision_at_k,
            bottom_precision_at_k,
            top_percent_hit,
            bottom_percent_hit,
            best_k_truth_ranks,
            best_truth_rank,
            skipped_k,
            verdict: String::new(),
        };
        report.verdict = report.make_verdict();
        Ok(report)
    }

    /// [`RankReport::compute`] on the rows of a [`super::join`], labelled with the truth's name.
    pub fn from_joined(joined: &Joined, opts: &RankOptions) -> Result<RankReport, RankError> {
        let mut report = Self::compute(&joined.scores(), &joined.truths(), opts)?;
        report.truth_name = Some(joined.truth_name.clone());
        Ok(report)
    }

    fn make_verdict(&self) -> String {
        let tau = self.kendall_tau_b;
        let strength = match tau {
            t if t >= 0.7 => "strong",
            t if t >= 0.5 => "moderate",
            t if t >= 0.3 => "weak",
            t if t >= 0.1 => "very weak",
            t if t > -0.1 => "no",
            _ => "inverted",
        };
        let mut clauses = vec![format!("Kendall tau-b {tau:.2}: {strength} ranking correlation")];

        // Prefer 10%, the granularity at which Zhang et al. find supernets useful.
        let pick = self
            .top_percent_hit
            .iter()
            .zip(&self.bottom_percent_hit)
            .find(|(t, _)| t.percent == 10.0)
            .or_else(|| self.top_percent_hit.iter().zip(&self.bottom_percent_hit).next_back());
        let contrast = match pick {
            Some((t, b)) => Some((format!("{}%", fmt_num(t.percent)), t.k, t.value, b.value)),
            None => self
                .precision_at_k
                .iter()
                .zip(&self.bottom_precision_at_k)
                .next_back()
                .map(|(t, b)| (t.k.to_string(), t.k, t.value, b.value)),
        };
        if let Some((label, k, top, bottom)) = contrast {
            let top_s = format!("top-{label} precision {top:.2}");
            let bottom_s = format!("bottom-{label} precision {bottom:.2}");
            let comparison = if bottom - top > 0.05 {
                format!("better at pruning the worst ({bottom_s}) than picking the best ({top_s})")
            } else if top - bottom > 0.05 {
                format!("better at picking the best ({top_s}) than pruning the worst ({bottom_s})")
            } else {
                format!("about as good at picking the best ({top_s}) as at pruning the worst ({bottom_s})")
            };
            clauses.push(format!("{comparison}; random guessing gives {:.2}", k as f64 / self.n as f64));
        }

        // Finding (ii) of Zhang et al.: good at the top 10%, poor at the top 1%.
        let fine = self.top_percent_hit.iter().min_by(|a, b| a.percent.total_cmp(&b.percent));
        let coarse = self.top_percent_hit.iter().max_by(|a, b| a.percent.total_cmp(&b.percent));
        if let (Some(f), Some(c)) = (fine, coarse) {
            if f.k < c.k && c.value >= 0.2 && f.value < 0.5 * c.value {
                clauses.push(format!(
                    "finds the top-{}% (hit {:.2}) but struggles for the top-{}% (hit {:.2})",
                    fmt_num(c.percent),
                    c.value,
                    fmt_num(f.percent),
                    f.value
                ));
            }
        }
        clauses.join("; ")
    }
}

/// 10 rather than 10.0, 0.5 as 0.5.
fn fmt_num(v: f64) -> String {
    format!("{v}")
}

fn join_values<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join("  ")
}

impl fmt::Display for RankReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ranking of {} architectures", self.n)?;
        if let Some(name) = &self.truth_name {
            write!(f, " against {name}")?;
        }
        writeln!(f, " (score: {}; truth: {})", self.score_better.describe(), self.truth_better.describe())?;
        writeln!(f, "  Kendall tau-b       {:.4}", self.kendall_tau_b)?;
        writeln!(f, "  Spearman rho        {:.4}", self.spearman_rho)?;
        writeln!(f, "  Pearson r           {:.4}", self.pearson_r)?;
        if !self.precision_at_k.is_empty() {
            let kv = |v: &KValue| format!("k={}: {:.3}", v.k, v.value);
            writeln!(f, "  precision@k         {}", join_values(&self.precision_at_k, kv))?;
            writeln!(f, "  bottom precision@k  {}", join_values(&self.bottom_precision_at_k, kv))?;
        }
        if !self.top_percent_hit.is_empty() {
            let pv = |v: &PercentValue| format!("{}% (k={}): {:.3}", fmt_num(v.percent), v.k, v.value);
            writeln!(f, "  top-p% hit          {}", join_values(&self.top_percent_hit, pv))?;
            writeln!(f, "  bottom-p% hit       {}", join_values(&self.bottom_percent_hit, pv))?;
        }
        if let Some(best) = self.best_truth_rank {
            let ranks: Vec<String> = self.best_k_truth_ranks.iter().map(usize::to_string).collect();
            writeln!(
                f,
                "  true ranks of the supernet's best {}: {} (best {} of {})",
                ranks.len(),
                ranks.join(", "),
                best,
                self.n
            )?;
        }
        if !self.skipped_k.is_empty() {
            let ks: Vec<String> = self.skipped_k.iter().map(usize::to_string).collect();
            writeln!(f, "  skipped k = {}: more than the {} architectures", ks.join(", "), self.n)?;
        }
        write!(f, "verdict: {}", self.verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb201::Nb201Arch;
    use crate::rank::scores::{join, ArchScores, GroundTruth};

    /// truth = 0..20; the scores equal the truth except that the two best (18, 19) swap scores with
    /// two mid-table cells (11, 10): the bottom is identified perfectly, the top not at all.
    fn swapped() -> (Vec<f64>, Vec<f64>) {
        let truth: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let mut scores = truth.clone();
        scores.swap(19, 10);
        scores.swap(18, 11);
        (scores, truth)
    }

    fn opts(ks: Vec<usize>, percents: Vec<f64>, best_k: usize) -> RankOptions {
        RankOptions { ks, percents, best_k, ..RankOptions::default() }
    }

    #[test]
    fn report_on_hand_built_case() {
        let (scores, truth) = swapped();
        let r = RankReport::compute(&scores, &truth, &opts(vec![2, 1, 50], vec![10.0, 50.0], 3)).unwrap();
        assert_eq!(r.n, 20);
        // Golden values from scipy 1.17.1: s = list(range(20)); s[19], s[10] = 10, 19;
        // s[18], s[11] = 11, 18; st.kendalltau(s, range(20)), st.spearmanr(...), st.pearsonr(...)
        // ⇒ 0.6842105263157895 (= 130/190: 30 of the 190 pairs are discordant). No ties, so Spearman
        // and Pearson coincide: 1 - 6·Σd²/(n(n²-1)) with Σd² = 2·9² + 2·7² = 260 ⇒ 0.8045112781954886.
        assert!((r.kendall_tau_b - SCIPY_TAU).abs() < 1e-12, "{}", r.kendall_tau_b);
        assert!((r.spearman_rho - (1.0 - 6.0 * 260.0 / 7980.0)).abs() < 1e-12, "{}", r.spearman_rho);
        assert!((r.pearson_r - r.spearman_rho).abs() < 1e-12);
        assert_eq!(r.precision_at_k, vec![KValue { k: 1, value: 0.0 }, KValue { k: 2, value: 0.0 }]);
        assert_eq!(r.bottom_precision_at_k, vec![KValue { k: 1, value: 1.0 }, KValue { k: 2, value: 1.0 }]);
        assert_eq!(r.skipped_k, vec![50]);
        // 10% of 20 = 2; 50% = 10: the scores 10..19 sit on items 10..19 (only permuted among them),
        // which are exactly the true top 10.
        assert_eq!(r.top_percent_hit[0], PercentValue { percent: 10.0, k: 2, value: 0.0 });
        assert_eq!(r.top_percent_hit[1], PercentValue { percent: 50.0, k: 10, value: 1.0 });
        assert_eq!(r.bottom_percent_hit[0].value, 1.0);
        // Best-scored: item 10 (truth 10 → 9 better → rank 10), item 11 (rank 9), item 17 (rank 3).
        assert_eq!(r.best_k_truth_ranks, vec![10, 9, 3]);
        assert_eq!(r.best_truth_rank, Some(3));
        assert_eq!(
            r.verdict,
            "Kendall tau-b 0.68: moderate ranking correlation; better at pruning the worst (bottom-10% precision \
             1.00) than picking the best (top-10% precision 0.00); random guessing gives 0.10; finds the top-50% \
             (hit 1.00) but struggles for the top-10% (hit 0.00)"
        );
        let text = r.to_string();
        assert!(text.contains("Kendall tau-b       0.6"), "{text}");
        assert!(text.contains("true ranks of the supernet's best 3: 10, 9, 3 (best 3 of 20)"), "{text}");
        assert!(text.contains("skipped k = 50"), "{text}");
        assert!(text.ends_with(&format!("verdict: {}", r.verdict)), "{text}");

        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<RankReport>(&json).unwrap(), r);
    }

    const SCIPY_TAU: f64 = 0.6842105263157895;

    #[test]
    fn lower_is_better_scores_are_oriented() {
        let (scores, truth) = swapped();
        let loss: Vec<f64> = scores.iter().map(|s| 100.0 - s).collect();
        let o = RankOptions { score_better: Better::Lower, ..opts(vec![1, 2], vec![10.0], 3) };
        let a = RankReport::compute(&loss, &truth, &o).unwrap();
        let b = RankReport::compute(&scores, &truth, &opts(vec![1, 2], vec![10.0], 3)).unwrap();
        assert_eq!(a.verdict, b.verdict);
        assert_eq!(a.best_k_truth_ranks, b.best_k_truth_ranks);
        assert!((a.kendall_tau_b - b.kendall_tau_b).abs() < 1e-15);
        assert!(a.to_string().contains("score: lower is better"));
    }

    #[test]
    fn verdict_for_a_top_heavy_supernet() {
        // Mirror image of `swapped`: the worst two are misplaced, the best are found.
        let truth: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let mut scores = truth.clone();
        scores.swap(0, 9);
        scores.swap(1, 8);
        let r = RankReport::compute(&scores, &truth, &opts(vec![], vec![10.0], 1)).unwrap();
        assert!(r.verdict.contains("better at picking the best (top-10% precision 1.00) than pruning the worst"));
        // With no percentages the contrast falls back to the largest k.
        let r = RankReport::compute(&scores, &truth, &opts(vec![1, 2], vec![], 0)).unwrap();
        assert!(r.verdict.contains("(top-2 precision 1.00)"), "{}", r.verdict);
        assert_eq!(r.best_truth_rank, None);
    }

    #[test]
    fn report_errors() {
        let o = RankOptions::default();
        assert!(matches!(RankReport::compute(&[1.0], &[1.0], &o), Err(RankError::TooFewPoints { n: 1, .. })));
        assert!(matches!(
            RankReport::compute(&[1.0, 2.0], &[1.0], &o),
            Err(RankError::LengthMismatch { left_name: "scores", .. })
        ));
        let e = RankReport::compute(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0], &o).unwrap_err();
        assert!(matches!(e, RankError::Constant { which: "scores", .. }), "{e}");
        let e = RankReport::compute(&[1.0, 2.0], &[f64::NAN, 2.0], &o).unwrap_err();
        assert!(matches!(e, RankError::NaN { which: "truth", index: 0 }), "{e}");
        let e = RankReport::compute(&[1.0, 2.0], &[1.0, 2.0], &opts(vec![0], vec![], 1)).unwrap_err();
        assert!(matches!(e, RankError::BadK { k: 0, .. }), "{e}");
        let e = RankReport::compute(&[1.0, 2.0], &[1.0, 2.0], &opts(vec![], vec![0.0], 1)).unwrap_err();
        assert!(matches!(e, RankError::BadPercent { .. }), "{e}");
    }

    #[test]
    fn from_joined_labels_the_truth() {
        let mut s = ArchScores::new();
        for i in 0..30 {
            let space = crate::oneshot::Nb201RankSpace::default();
            s.push(&space, &Nb201Arch::from_index(i).unwrap().to_string(), (i % 7) as f64);
        }
        let joined = join(&s, &GroundTruth::from_column(crate::bench::Column::Cifar10Test200ep)).unwrap();
        let r = RankReport::from_joined(&joined, &RankOptions::default()).unwrap();
        assert_eq!(r.n, 30);
        assert_eq!(r.truth_name.as_deref(), Some("cifar10_test_200ep"));
        assert!(r.to_string().starts_with("ranking of 30 architectures against cifar10_test_200ep"));
        assert_eq!(r.skipped_k, vec![50, 100]);
    }
}
