//! Which kinds of architectures does a supernet over- or under-rate?
//!
//! Weight-sharing supernets are reported to favour small, shallow, parameter-free cells (Zhang, Zhang
//! & Yang 2020, and later work; see docs/algorithms.md#ranking): those converge fastest with shared
//! weights. [`BiasReport`] correlates simple cell features with the supernet score, with the ground
//! truth and with the rank error (score rank − truth rank). A feature that correlates with the rank
//! error but not with the truth is a bias of the supernet.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::scores::JoinedRow;
use super::stats::{self, Better};
use super::{check_finite, RankError};
use crate::oneshot::{RankSpace, PARAMS};

/// Settings of [`BiasReport::compute`].
#[derive(Debug, Clone, PartialEq)]
pub struct BiasOptions {
    /// Exact parameter counts by canonical architecture (e.g. from the engine); when given they
    /// replace the space's own `params` feature and must cover every joined architecture.
    pub exact_params: Option<BTreeMap<String, f64>>,
    pub score_better: Better,
    pub truth_better: Better,
    /// A feature with more distinct values than this is summarised in quantile bins instead.
    pub max_groups: usize,
}

impl Default for BiasOptions {
    fn default() -> Self {
        BiasOptions { exact_params: None, score_better: Better::Higher, truth_better: Better::Higher, max_groups: 12 }
    }
}

/// Number of bins for a feature with too many distinct values to list one by one.
const QUANTILE_BINS: usize = 5;

/// Means over the cells sharing one feature value (or one bin of values).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupMean {
    /// The value, or `lo..hi` for a bin.
    pub label: String,
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// In the score's own units and direction.
    pub mean_score: f64,
    pub mean_truth: f64,
    pub mean_rank_error: f64,
}

/// One feature against score, truth and rank error. Spearman ρ is `None` where it is undefined
/// (a feature or rank error that is constant over the cells).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBias {
    /// The feature's name, as the space defines it (`skip_count`, `params`, ...).
    pub feature: String,
    pub spearman_score: Option<f64>,
    pub spearman_truth: Option<f64>,
    pub spearman_rank_error: Option<f64>,
    pub groups: Vec<GroupMean>,
}

/// Bias of a supernet's scores with respect to cell features.
///
/// Scores and truth are oriented to higher-is-better before correlating, so ρ(feature, score) > 0
/// means the supernet likes the feature. Rank error = score rank − truth rank with 1 = best and ties
/// averaged: negative means the supernet places the cell above where its true accuracy puts it, so
/// ρ(feature, rank error) < 0 means the supernet over-rates cells with more of the feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiasReport {
    pub n: usize,
    pub score_better: Better,
    pub truth_better: Better,
    /// How the space counts parameters (e.g. "approximate, one cell at C=16"), or "exact, caller-supplied".
    pub params_source: String,
    pub features: Vec<FeatureBias>,
    /// The feature most correlated with the rank error, in words.
    pub finding: String,
}

/// Spearman ρ, with "undefined because constant" as `None`; other errors were ruled out by the caller.
fn rho_or_none(x: &[f64], y: &[f64]) -> Result<Option<f64>, RankError> {
    match stats::spearman_rho(x, y) {
        Ok(r) => Ok(Some(r)),
        Err(RankError::Constant { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Groups of row positions with equal feature values, or quantile bins that never split a value.
fn group_rows(values: &[f64], max_groups: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        match runs.last_mut() {
            Some(run) if values[run[0]] == values[i] => run.push(i),
            _ => runs.push(vec![i]),
        }
    }
    if runs.len() <= max_groups.max(1) {
        return runs;
    }
    let n = values.len();
    let mut bins: Vec<Vec<usize>> = vec![Vec::new()];
    let mut filled = 0;
    for run in runs {
        let bin = bins.len();
        let target = bin * n / QUANTILE_BINS;
        // Start a new bin once the current one has reached its share of the cells.
        if filled >= target && !bins[bin - 1].is_empty() && bin < QUANTILE_BINS {
            bins.push(Vec::new());
        }
        filled += run.len();
        if let Some(last) = bins.last_mut() {
            last.extend(run);
        }
    }
    bins
}

fn fmt_value(v: f64) -> String {
    format!("{v}")
}

fn mean(rows: &[usize], values: &[f64]) -> f64 {
    rows.iter().map(|&i| values[i]).sum::<f64>() / rows.len() as f64
}

impl BiasReport {
    /// Features come from `space`; the rows' architectures must be canonical strings of it.
    pub fn compute(rows: &[JoinedRow], space: &dyn RankSpace, opts: &BiasOptions) -> Result<BiasReport, RankError> {
        let n = rows.len();
        if n < 2 {
            return Err(RankError::TooFewPoints { what: "a bias report", n, min: 2 });
        }
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        let truths: Vec<f64> = rows.iter().map(|r| r.truth).collect();
        check_finite("scores", &scores)?;
        check_finite("truth", &truths)?;

        let mut features: Vec<Vec<f64>> =
            rows.iter().map(|r| space.feature_values(&r.arch)).collect::<Result<_, _>>().map_err(RankError::Arch)?;
        let params_at = space.features().iter().position(|f| f.name == PARAMS);
        let params_source = match (&opts.exact_params, params_at) {
            (Some(map), Some(p)) => {
                for (cell, row) in features.iter_mut().zip(rows) {
                    cell[p] = *map.get(&row.arch).ok_or_else(|| RankError::MissingParams { arch: row.arch.clone() })?;
                }
                check_finite("exact_params", &features.iter().map(|c| c[p]).collect::<Vec<_>>())?;
                "exact, caller-supplied".to_string()
            }
            _ => space.params_note(),
        };

        let s = opts.score_better.orient(&scores);
        let t = opts.truth_better.orient(&truths);
        let score_rank = stats::best_first_ranks(&scores, opts.score_better);
        let truth_rank = stats::best_first_ranks(&truths, opts.truth_better);
        let rank_error: Vec<f64> = score_rank.iter().zip(&truth_rank).map(|(a, b)| a - b).collect();

        let mut out = Vec::with_capacity(space.features().len());
        for (at, feature) in space.features().iter().enumerate() {
            let values: Vec<f64> = features.iter().map(|c| c[at]).collect();
            let groups = group_rows(&values, opts.max_groups)
                .into_iter()
                .map(|g| {
                    let lo = values[g[0]];
                    let hi = values[g[g.len() - 1]];
                    GroupMean {
                        label: if lo == hi { fmt_value(lo) } else { format!("{}..{}", fmt_value(lo), fmt_value(hi)) },
                        lo,
                        hi,
                        count: g.len(),
                        mean_score: mean(&g, &scores),
                        mean_truth: mean(&g, &truths),
                        mean_rank_error: mean(&g, &rank_error),
                    }
                })
                .collect();
            out.push(FeatureBias {
                feature: feature.name.to_string(),
                spearman_score: rho_or_none(&values, &s)?,
                spearman_truth: rho_or_none(&values, &t)?,
                spearman_rank_error: rho_or_none(&values, &rank_error)?,
                groups,
            });
        }
        let finding = if n < MIN_FINDING_POINTS {
            format!("too few cells ({n}) to call a bias; rank at least {MIN_FINDING_POINTS}")
        } else {
            finding(space, &out)
        };
        Ok(BiasReport {
            n,
            score_better: opts.score_better,
            truth_better: opts.truth_better,
            params_source,
            features: out,
            finding,
        })
    }
}

/// Below this many cells a correlation with the rank error is noise, so no bias is called.
pub const MIN_FINDING_POINTS: usize = 10;

/// Below this |ρ| with the rank error a feature is not called a bias.
pub const BIAS_THRESHOLD: f64 = 0.1;

/// The feature most correlated with the rank error (largest |ρ|; the first of equals), as its
/// position in `features` and its ρ; None when no feature has a defined ρ.
fn strongest(features: &[FeatureBias]) -> Option<(usize, f64)> {
    features.iter().enumerate().filter_map(|(at, f)| f.spearman_rank_error.map(|r| (at, r))).fold(
        None,
        |best, (at, r)| match best {
            Some((_, b)) if b.abs() >= r.abs() => best,
            _ => Some((at, r)),
        },
    )
}

impl BiasReport {
    /// The feature the finding is about: the one most correlated with the rank error, and that ρ.
    pub fn strongest(&self) -> Option<(&FeatureBias, f64)> {
        strongest(&self.features).map(|(at, r)| (&self.features[at], r))
    }

    /// Whether the finding calls a bias: enough cells, and |ρ| of the strongest feature at least
    /// [`BIAS_THRESHOLD`].
    pub fn called(&self) -> bool {
        self.n >= MIN_FINDING_POINTS && self.strongest().is_some_and(|(_, r)| r.abs() >= BIAS_THRESHOLD)
    }
}

fn finding(space: &dyn RankSpace, features: &[FeatureBias]) -> String {
    let defs = space.features();
    match strongest(features).map(|(at, r)| (&defs[at], r)) {
        None => "no feature varies together with the rank error (all are constant, or the ranking is exact)".into(),
        Some((f, r)) if r.abs() < BIAS_THRESHOLD => {
            format!("no clear bias: the strongest link is {f} with Spearman rho {r:+.2} against the rank error")
        }
        Some((f, r)) if r < 0.0 => format!(
            "the supernet favours {}: Spearman rho of {f} with the rank error is {r:+.2}, so the more of it a cell \
             has, the higher the supernet ranks it relative to its true place",
            f.high
        ),
        Some((f, r)) => format!(
            "the supernet favours {}: Spearman rho of {f} with the rank error is {r:+.2}, so the more of it a cell \
             has, the lower the supernet ranks it relative to its true place",
            f.low
        ),
    }
}

fn fmt_rho(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".to_string(), |r| format!("{r:+.3}"))
}

impl fmt::Display for BiasReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bias analysis of {} cells (score: {}; truth: {}; params: {})",
            self.n,
            self.score_better.describe(),
            self.truth_better.describe(),
            self.params_source
        )?;
        writeln!(
            f,
            "rank error = score rank - truth rank (1 = best); negative: the supernet ranks the cell above its true place"
        )?;
        writeln!(f, "{:<18} {:>10} {:>10} {:>14}", "feature", "rho(score)", "rho(truth)", "rho(rank err)")?;
        for fb in &self.features {
            writeln!(
                f,
                "{:<18} {:>10} {:>10} {:>14}",
                fb.feature,
                fmt_rho(fb.spearman_score),
                fmt_rho(fb.spearman_truth),
                fmt_rho(fb.spearman_rank_error)
            )?;
        }
        for fb in &self.features {
            writeln!(f, "{}:", fb.feature)?;
            writeln!(
                f,
                "  {:<16} {:>6} {:>12} {:>12} {:>14}",
                "value", "n", "mean score", "mean truth", "mean rank err"
            )?;
            for g in &fb.groups {
                writeln!(
                    f,
                    "  {:<16} {:>6} {:>12.4} {:>12.4} {:>14.1}",
                    g.label, g.count, g.mean_score, g.mean_truth, g.mean_rank_error
                )?;
            }
        }
        write!(f, "finding: {}", self.finding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Column, Nb201Table};
    use crate::nb201::{Nb201Arch, Nb201Op};
    use crate::oneshot::Nb201RankSpace;

    const BEST_C100: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

    fn arch(s: &str) -> Nb201Arch {
        s.parse().unwrap()
    }

    fn row(a: Nb201Arch, score: f64, truth: f64) -> JoinedRow {
        JoinedRow { index: Some(a.to_index()), arch: a.to_string(), score, truth }
    }

    fn compute(rows: &[JoinedRow], opts: &BiasOptions) -> Result<BiasReport, RankError> {
        BiasReport::compute(rows, &Nb201RankSpace::default(), opts)
    }

    /// Four cells; the "supernet" prefers the all-skip cell. A = all 3x3 convs, B = all skip,
    /// C = all none, D = the CIFAR-100 optimum.
    fn tiny() -> Vec<JoinedRow> {
        vec![
            row(Nb201Arch::uniform(Nb201Op::NorConv3x3), 0.7, 93.9),
            row(Nb201Arch::uniform(Nb201Op::SkipConnect), 0.9, 54.3),
            row(Nb201Arch::uniform(Nb201Op::None), 0.1, 10.0),
            row(arch(BEST_C100), 0.8, 94.36),
        ]
    }

    #[test]
    fn bias_report_on_tiny_case() {
        let r = compute(&tiny(), &BiasOptions::default()).unwrap();
        let get = |f: &str| r.features.iter().find(|x| x.feature == f).unwrap();
        // Score ranks B1 D2 A3 C4, truth ranks D1 A2 B3 C4 ⇒ rank errors A +1, B -2, C 0, D +1.
        // Golden values from scipy 1.17.1, st.spearmanr(feature, [1, -2, 0, 1]).statistic (rank error)
        // and st.spearmanr(feature, [0.7, 0.9, 0.1, 0.8]).statistic (score), e.g. for skip_count
        // [0, 6, 0, 1] against the rank error: -0.5 (also by hand: Σ dx·dy = -2.25, Σdx² = Σdy² = 4.5).
        let expect = |f: &str, score: f64, rank_err: f64| {
            let fb = get(f);
            assert!((fb.spearman_score.unwrap() - score).abs() < 1e-12, "{f} score {:?}", fb.spearman_score);
            assert!(
                (fb.spearman_rank_error.unwrap() - rank_err).abs() < 1e-12,
                "{f} rank error {:?}",
                fb.spearman_rank_error
            );
        };
        for (f, score, rank_err) in TINY_GOLDEN {
            expect(f, score, rank_err);
        }
        // avg_pool is 0 everywhere: ρ undefined, one group.
        assert_eq!(get("avg_pool_count").spearman_score, None);
        assert_eq!(get("avg_pool_count").groups.len(), 1);

        let skip = &get("skip_count").groups;
        assert_eq!(skip.iter().map(|g| g.label.as_str()).collect::<Vec<_>>(), vec!["0", "1", "6"]);
        assert_eq!(skip[0].count, 2);
        assert!((skip[0].mean_score - 0.4).abs() < 1e-12);
        assert!((skip[0].mean_truth - 51.95).abs() < 1e-12);
        assert_eq!((skip[0].mean_rank_error, skip[1].mean_rank_error, skip[2].mean_rank_error), (0.5, 1.0, -2.0));

        // Four cells are too few for a correlation to mean anything: no finding is called.
        assert_eq!(r.finding, "too few cells (4) to call a bias; rank at least 10");
        assert!(finding(&Nb201RankSpace::default(), &r.features)
            .starts_with("the supernet favours shallower cells (fewer convolutions on the longest path)"));
        assert_eq!(r.params_source, "approximate, one cell at C=16");
        let text = r.to_string();
        // ρ(skip_count, truth [93.9, 54.3, 10.0, 94.36]) = 0.21081851067789195 (scipy, as above).
        assert!((get("skip_count").spearman_truth.unwrap() - 0.21081851067789195).abs() < 1e-12);
        let line = text.lines().find(|l| l.starts_with("skip_count ")).unwrap();
        assert_eq!(line.split_whitespace().collect::<Vec<_>>(), ["skip_count", "+0.949", "+0.211", "-0.500"]);
        assert!(text.ends_with(&format!("finding: {}", r.finding)), "{text}");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<BiasReport>(&json).unwrap(), r);
    }

    /// (feature, ρ with score, ρ with rank error), printed by the scipy calls quoted in the test.
    const TINY_GOLDEN: [(&str, f64, f64); 7] = [
        ("param_free_count", 0.10540925533894598, -0.888888888888889),
        ("skip_count", 0.9486832980505139, -0.5000000000000001),
        ("conv_count", -0.10540925533894598, 0.888888888888889),
        ("none_count", -0.7745966692414834, -0.2721655269759087),
        ("params", -0.10540925533894598, 0.888888888888889),
        ("depth_conv", 0.0, 0.9428090415820635),
        ("depth_edges", 0.7745966692414834, 0.2721655269759087),
    ];

    #[test]
    fn exact_params_replace_the_approximation() {
        let rows = tiny();
        let mut map: BTreeMap<String, f64> = rows.iter().map(|r| (r.arch.clone(), 1e6)).collect();
        map.insert(rows[1].arch.clone(), 2e6);
        let opts = BiasOptions { exact_params: Some(map.clone()), ..BiasOptions::default() };
        let r = compute(&rows, &opts).unwrap();
        assert_eq!(r.params_source, "exact, caller-supplied");
        let params = r.features.iter().find(|f| f.feature == "params").unwrap();
        assert_eq!(params.groups.iter().map(|g| g.label.as_str()).collect::<Vec<_>>(), vec!["1000000", "2000000"]);

        map.remove(&rows[2].arch);
        let e = compute(&rows, &BiasOptions { exact_params: Some(map), ..BiasOptions::default() }).unwrap_err();
        assert!(matches!(&e, RankError::MissingParams { arch } if *arch == rows[2].arch), "{e}");
    }

    #[test]
    fn errors() {
        let rows = tiny();
        assert!(matches!(compute(&rows[..1], &BiasOptions::default()), Err(RankError::TooFewPoints { n: 1, .. })));
        let mut nan = rows.clone();
        nan[3].score = f64::NAN;
        assert!(matches!(compute(&nan, &BiasOptions::default()), Err(RankError::NaN { which: "scores", index: 3 })));
    }

    #[test]
    fn detects_a_planted_param_free_bias_on_nb201() {
        // Scores = true CIFAR-10 accuracy + 4 points per parameter-free op: a supernet that overrates
        // weight-free cells. The analysis must single that out.
        let table = Nb201Table::embedded();
        let rows: Vec<JoinedRow> = table
            .rows()
            .map(|r| {
                let a = r.arch();
                let truth = r.value(Column::Cifar10Test200ep);
                let score = truth + 4.0 * a.num_param_free() as f64;
                JoinedRow { index: Some(r.index()), arch: a.to_string(), score, truth }
            })
            .collect();
        let r = compute(&rows, &BiasOptions::default()).unwrap();
        let pf = r.features.iter().find(|f| f.feature == "param_free_count").unwrap();
        assert!(pf.spearman_rank_error.unwrap() < -0.3, "{:?}", pf.spearman_rank_error);
        assert_eq!(pf.groups.len(), 7);
        // Mean rank error falls as the parameter-free count rises.
        assert!(pf.groups[0].mean_rank_error > pf.groups[6].mean_rank_error);
        // Parameters take more than max_groups distinct values over all cells, so they come in 5 bins.
        let params = r.features.iter().find(|f| f.feature == "params").unwrap();
        assert_eq!(params.groups.iter().map(|g| g.count).sum::<usize>(), 15_625);
        assert!(params.groups.len() <= QUANTILE_BINS, "{:?}", params.groups);
        assert!(r.finding.contains("the supernet favours"), "{}", r.finding);
    }

    #[test]
    fn quantile_bins_do_not_split_values() {
        let values: Vec<f64> = (0..100).map(|i| (i / 3) as f64).collect();
        let bins = group_rows(&values, 12);
        assert_eq!(bins.iter().map(Vec::len).sum::<usize>(), 100);
        assert!(bins.len() <= QUANTILE_BINS);
        for w in bins.windows(2) {
            let max_prev = w[0].iter().map(|&i| values[i]).fold(f64::MIN, f64::max);
            let min_next = w[1].iter().map(|&i| values[i]).fold(f64::MAX, f64::min);
            assert!(max_prev < min_next);
        }
    }
}
