//! Which kinds of NAS-Bench-201 cells does a supernet over- or under-rate?
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
use crate::nb201::{Nb201Arch, Nb201Op, EDGES};

/// Channel count of the first NB201 stage (C = 16), where the approximate cell size is taken.
pub const DEFAULT_CHANNELS: usize = 16;

/// A cell property the bias analysis looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// none + skip_connect + avg_pool_3x3 edges.
    ParamFreeCount,
    SkipCount,
    /// nor_conv_1x1 + nor_conv_3x3 edges.
    ConvCount,
    NoneCount,
    AvgPoolCount,
    /// Parameters of one cell (approximate, or exact when the caller supplies counts).
    Params,
    /// Convolutions on the input-to-output path with the most of them.
    DepthConv,
    /// Edges on the longest input-to-output path.
    DepthEdges,
}

impl Feature {
    pub const ALL: [Feature; 8] = [
        Feature::ParamFreeCount,
        Feature::SkipCount,
        Feature::ConvCount,
        Feature::NoneCount,
        Feature::AvgPoolCount,
        Feature::Params,
        Feature::DepthConv,
        Feature::DepthEdges,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Feature::ParamFreeCount => "param_free_count",
            Feature::SkipCount => "skip_count",
            Feature::ConvCount => "conv_count",
            Feature::NoneCount => "none_count",
            Feature::AvgPoolCount => "avg_pool_count",
            Feature::Params => "params",
            Feature::DepthConv => "depth_conv",
            Feature::DepthEdges => "depth_edges",
        }
    }

    /// Cells with a high value, in words.
    fn high(self) -> &'static str {
        match self {
            Feature::ParamFreeCount => "cells with more parameter-free ops",
            Feature::SkipCount => "cells with more skip-connections",
            Feature::ConvCount => "cells with more convolutions",
            Feature::NoneCount => "cells with more `none` edges",
            Feature::AvgPoolCount => "cells with more average pooling",
            Feature::Params => "larger cells (more parameters)",
            Feature::DepthConv => "deeper cells (more convolutions on the longest path)",
            Feature::DepthEdges => "deeper cells (longer input-output paths)",
        }
    }

    /// Cells with a low value, in words.
    fn low(self) -> &'static str {
        match self {
            Feature::ParamFreeCount => "cells with fewer parameter-free ops",
            Feature::SkipCount => "cells with fewer skip-connections",
            Feature::ConvCount => "cells with fewer convolutions",
            Feature::NoneCount => "cells with fewer `none` edges",
            Feature::AvgPoolCount => "cells with less average pooling",
            Feature::Params => "smaller cells (fewer parameters)",
            Feature::DepthConv => "shallower cells (fewer convolutions on the longest path)",
            Feature::DepthEdges => "shallower cells (shorter input-output paths)",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parameters of one op inside a cell at `c` channels: conv weights without bias (NB201's convs
/// have `bias = not affine` and affine BN) plus the BN's γ and β.
fn op_params(op: Nb201Op, c: u64) -> u64 {
    match op {
        Nb201Op::NorConv1x1 => c * c + 2 * c,
        Nb201Op::NorConv3x3 => 9 * c * c + 2 * c,
        Nb201Op::None | Nb201Op::SkipConnect | Nb201Op::AvgPool3x3 => 0,
    }
}

/// Approximate parameter count of one cell at `channels` channels. Ops on edges that cannot reach
/// the output still count: the network instantiates them all. The whole network's count (stem,
/// reduction blocks, classifier, three stages) is the engine's job.
pub fn approx_cell_params(arch: &Nb201Arch, channels: usize) -> u64 {
    arch.ops.iter().map(|&op| op_params(op, channels as u64)).sum()
}

/// Longest input-to-output path through non-`none` edges, as (convolutions on the path with the
/// most convolutions, edges on the path with the most edges). (0, 0) when no path reaches the output:
/// such a cell outputs zeros whatever its other edges do.
pub fn cell_depth(arch: &Nb201Arch) -> (usize, usize) {
    let mut conv: [Option<usize>; 4] = [Some(0), None, None, None];
    let mut edges: [Option<usize>; 4] = [Some(0), None, None, None];
    // EDGES is ordered by target node, so every source is final before it is used.
    for (&(to, from), &op) in EDGES.iter().zip(&arch.ops) {
        if op == Nb201Op::None {
            continue;
        }
        let is_conv = matches!(op, Nb201Op::NorConv1x1 | Nb201Op::NorConv3x3) as usize;
        if let Some(c) = conv[from] {
            conv[to] = conv[to].max(Some(c + is_conv));
        }
        if let Some(e) = edges[from] {
            edges[to] = edges[to].max(Some(e + 1));
        }
    }
    (conv[3].unwrap_or(0), edges[3].unwrap_or(0))
}

/// The features of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CellFeatures {
    pub param_free_count: usize,
    pub skip_count: usize,
    pub conv_count: usize,
    pub none_count: usize,
    pub avg_pool_count: usize,
    pub params: f64,
    pub depth_conv: usize,
    pub depth_edges: usize,
}

impl CellFeatures {
    /// Features with the approximate parameter count at `channels` (see [`approx_cell_params`]).
    pub fn of(arch: &Nb201Arch, channels: usize) -> Self {
        let (depth_conv, depth_edges) = cell_depth(arch);
        CellFeatures {
            param_free_count: arch.num_param_free(),
            skip_count: arch.count(Nb201Op::SkipConnect),
            conv_count: arch.count(Nb201Op::NorConv1x1) + arch.count(Nb201Op::NorConv3x3),
            none_count: arch.count(Nb201Op::None),
            avg_pool_count: arch.count(Nb201Op::AvgPool3x3),
            params: approx_cell_params(arch, channels) as f64,
            depth_conv,
            depth_edges,
        }
    }

    pub fn value(&self, feature: Feature) -> f64 {
        match feature {
            Feature::ParamFreeCount => self.param_free_count as f64,
            Feature::SkipCount => self.skip_count as f64,
            Feature::ConvCount => self.conv_count as f64,
            Feature::NoneCount => self.none_count as f64,
            Feature::AvgPoolCount => self.avg_pool_count as f64,
            Feature::Params => self.params,
            Feature::DepthConv => self.depth_conv as f64,
            Feature::DepthEdges => self.depth_edges as f64,
        }
    }
}

/// Settings of [`BiasReport::compute`].
#[derive(Debug, Clone, PartialEq)]
pub struct BiasOptions {
    /// Channel count for the approximate parameter count.
    pub channels: usize,
    /// Exact parameter counts by NB201 index (e.g. from the engine); when given they replace the
    /// approximation and must cover every joined cell.
    pub exact_params: Option<BTreeMap<usize, f64>>,
    pub score_better: Better,
    pub truth_better: Better,
    /// A feature with more distinct values than this is summarised in quantile bins instead.
    pub max_groups: usize,
}

impl Default for BiasOptions {
    fn default() -> Self {
        BiasOptions {
            channels: DEFAULT_CHANNELS,
            exact_params: None,
            score_better: Better::Higher,
            truth_better: Better::Higher,
            max_groups: 12,
        }
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
    pub feature: Feature,
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
    /// "approximate, one cell at C=16" or "exact, caller-supplied".
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
    pub fn compute(rows: &[JoinedRow], opts: &BiasOptions) -> Result<BiasReport, RankError> {
        let n = rows.len();
        if n < 2 {
            return Err(RankError::TooFewPoints { what: "a bias report", n, min: 2 });
        }
        let scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
        let truths: Vec<f64> = rows.iter().map(|r| r.truth).collect();
        check_finite("scores", &scores)?;
        check_finite("truth", &truths)?;

        let mut features: Vec<CellFeatures> = rows.iter().map(|r| CellFeatures::of(&r.arch, opts.channels)).collect();
        let params_source = match &opts.exact_params {
            Some(map) => {
                for (cell, row) in features.iter_mut().zip(rows) {
                    cell.params = *map.get(&row.index).ok_or(RankError::MissingParams { index: row.index })?;
                }
                check_finite("exact_params", &features.iter().map(|c| c.params).collect::<Vec<_>>())?;
                "exact, caller-supplied".to_string()
            }
            None => format!("approximate, one cell at C={}", opts.channels),
        };

        let s = opts.score_better.orient(&scores);
        let t = opts.truth_better.orient(&truths);
        let score_rank = stats::best_first_ranks(&scores, opts.score_better);
        let truth_rank = stats::best_first_ranks(&truths, opts.truth_better);
        let rank_error: Vec<f64> = score_rank.iter().zip(&truth_rank).map(|(a, b)| a - b).collect();

        let mut out = Vec::with_capacity(Feature::ALL.len());
        for feature in Feature::ALL {
            let values: Vec<f64> = features.iter().map(|c| c.value(feature)).collect();
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
                feature,
                spearman_score: rho_or_none(&values, &s)?,
                spearman_truth: rho_or_none(&values, &t)?,
                spearman_rank_error: rho_or_none(&values, &rank_error)?,
                groups,
            });
        }
        let finding = if n < MIN_FINDING_POINTS {
            format!("too few cells ({n}) to call a bias; rank at least {MIN_FINDING_POINTS}")
        } else {
            finding(&out)
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
const BIAS_THRESHOLD: f64 = 0.1;

fn finding(features: &[FeatureBias]) -> String {
    let strongest = features.iter().filter_map(|f| f.spearman_rank_error.map(|r| (f.feature, r))).fold(
        None,
        |best: Option<(Feature, f64)>, (f, r)| match best {
            Some((_, b)) if b.abs() >= r.abs() => best,
            _ => Some((f, r)),
        },
    );
    match strongest {
        None => "no feature varies together with the rank error (all are constant, or the ranking is exact)".into(),
        Some((f, r)) if r.abs() < BIAS_THRESHOLD => {
            format!("no clear bias: the strongest link is {f} with Spearman rho {r:+.2} against the rank error")
        }
        Some((f, r)) if r < 0.0 => format!(
            "the supernet favours {}: Spearman rho of {f} with the rank error is {r:+.2}, so the more of it a cell \
             has, the higher the supernet ranks it relative to its true accuracy",
            f.high()
        ),
        Some((f, r)) => format!(
            "the supernet favours {}: Spearman rho of {f} with the rank error is {r:+.2}, so the more of it a cell \
             has, the lower the supernet ranks it relative to its true accuracy",
            f.low()
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
                fb.feature.name(),
                fmt_rho(fb.spearman_score),
                fmt_rho(fb.spearman_truth),
                fmt_rho(fb.spearman_rank_error)
            )?;
        }
        for fb in &self.features {
            writeln!(f, "{}:", fb.feature.name())?;
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

    const BEST_C100: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";

    fn arch(s: &str) -> Nb201Arch {
        s.parse().unwrap()
    }

    fn row(a: Nb201Arch, score: f64, truth: f64) -> JoinedRow {
        JoinedRow { index: a.to_index(), arch: a, score, truth }
    }

    #[test]
    fn features_by_hand() {
        let best = CellFeatures::of(&arch(BEST_C100), 16);
        // Five 3x3 convs at C=16: 5 · (9·256 + 32) = 11680; path 0→1→2→3 has 3 convs and 3 edges.
        assert_eq!(
            best,
            CellFeatures {
                param_free_count: 1,
                skip_count: 1,
                conv_count: 5,
                none_count: 0,
                avg_pool_count: 0,
                params: 11680.0,
                depth_conv: 3,
                depth_edges: 3,
            }
        );
        let skip = CellFeatures::of(&Nb201Arch::uniform(Nb201Op::SkipConnect), 16);
        assert_eq!((skip.param_free_count, skip.skip_count, skip.params), (6, 6, 0.0));
        assert_eq!((skip.depth_conv, skip.depth_edges), (0, 3));
        let none = CellFeatures::of(&Nb201Arch::uniform(Nb201Op::None), 16);
        assert_eq!((none.none_count, none.depth_conv, none.depth_edges), (6, 0, 0));
        // One 1x1 conv at C=32: 32² + 64 = 1088.
        assert_eq!(approx_cell_params(&arch("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|"), 32), 1088);
        // A deep conv chain 0→1→2 that never reaches node 3 does not count: only the skip 3<-0 does.
        let dead_end = arch("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|");
        assert_eq!(cell_depth(&dead_end), (0, 1));
        // The path with most convs (0→3 via a conv, 1 conv) differs from the longest in edges
        // (0→1→2→3 through skips and a pool, 3 edges, 0 convs).
        let split = arch("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|");
        assert_eq!(cell_depth(&split), (1, 3));
        // Output reachable only through node 1: 0→1 (conv) →3 (conv).
        let via1 = arch("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|");
        assert_eq!(cell_depth(&via1), (2, 2));
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
        let r = BiasReport::compute(&tiny(), &BiasOptions::default()).unwrap();
        let get = |f: Feature| r.features.iter().find(|x| x.feature == f).unwrap();
        // Score ranks B1 D2 A3 C4, truth ranks D1 A2 B3 C4 ⇒ rank errors A +1, B -2, C 0, D +1.
        // Golden values from scipy 1.17.1, st.spearmanr(feature, [1, -2, 0, 1]).statistic (rank error)
        // and st.spearmanr(feature, [0.7, 0.9, 0.1, 0.8]).statistic (score), e.g. for skip_count
        // [0, 6, 0, 1] against the rank error: -0.5 (also by hand: Σ dx·dy = -2.25, Σdx² = Σdy² = 4.5).
        let expect = |f: Feature, score: f64, rank_err: f64| {
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
        assert_eq!(get(Feature::AvgPoolCount).spearman_score, None);
        assert_eq!(get(Feature::AvgPoolCount).groups.len(), 1);

        let skip = &get(Feature::SkipCount).groups;
        assert_eq!(skip.iter().map(|g| g.label.as_str()).collect::<Vec<_>>(), vec!["0", "1", "6"]);
        assert_eq!(skip[0].count, 2);
        assert!((skip[0].mean_score - 0.4).abs() < 1e-12);
        assert!((skip[0].mean_truth - 51.95).abs() < 1e-12);
        assert_eq!((skip[0].mean_rank_error, skip[1].mean_rank_error, skip[2].mean_rank_error), (0.5, 1.0, -2.0));

        // Four cells are too few for a correlation to mean anything: no finding is called.
        assert_eq!(r.finding, "too few cells (4) to call a bias; rank at least 10");
        assert!(finding(&r.features)
            .starts_with("the supernet favours shallower cells (fewer convolutions on the longest path)"));
        assert_eq!(r.params_source, "approximate, one cell at C=16");
        let text = r.to_string();
        // ρ(skip_count, truth [93.9, 54.3, 10.0, 94.36]) = 0.21081851067789195 (scipy, as above).
        assert!((get(Feature::SkipCount).spearman_truth.unwrap() - 0.21081851067789195).abs() < 1e-12);
        let line = text.lines().find(|l| l.starts_with("skip_count ")).unwrap();
        assert_eq!(line.split_whitespace().collect::<Vec<_>>(), ["skip_count", "+0.949", "+0.211", "-0.500"]);
        assert!(text.ends_with(&format!("finding: {}", r.finding)), "{text}");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<BiasReport>(&json).unwrap(), r);
    }

    /// (feature, ρ with score, ρ with rank error), printed by the scipy calls quoted in the test.
    const TINY_GOLDEN: [(Feature, f64, f64); 7] = [
        (Feature::ParamFreeCount, 0.10540925533894598, -0.888888888888889),
        (Feature::SkipCount, 0.9486832980505139, -0.5000000000000001),
        (Feature::ConvCount, -0.10540925533894598, 0.888888888888889),
        (Feature::NoneCount, -0.7745966692414834, -0.2721655269759087),
        (Feature::Params, -0.10540925533894598, 0.888888888888889),
        (Feature::DepthConv, 0.0, 0.9428090415820635),
        (Feature::DepthEdges, 0.7745966692414834, 0.2721655269759087),
    ];

    #[test]
    fn exact_params_replace_the_approximation() {
        let rows = tiny();
        let mut map: BTreeMap<usize, f64> = rows.iter().map(|r| (r.index, 1e6)).collect();
        map.insert(rows[1].index, 2e6);
        let opts = BiasOptions { exact_params: Some(map.clone()), ..BiasOptions::default() };
        let r = BiasReport::compute(&rows, &opts).unwrap();
        assert_eq!(r.params_source, "exact, caller-supplied");
        let params = r.features.iter().find(|f| f.feature == Feature::Params).unwrap();
        assert_eq!(params.groups.iter().map(|g| g.label.as_str()).collect::<Vec<_>>(), vec!["1000000", "2000000"]);

        map.remove(&rows[2].index);
        let e =
            BiasReport::compute(&rows, &BiasOptions { exact_params: Some(map), ..BiasOptions::default() }).unwrap_err();
        assert!(matches!(e, RankError::MissingParams { index } if index == rows[2].index), "{e}");
    }

    #[test]
    fn errors() {
        let rows = tiny();
        assert!(matches!(
            BiasReport::compute(&rows[..1], &BiasOptions::default()),
            Err(RankError::TooFewPoints { n: 1, .. })
        ));
        let mut nan = rows.clone();
        nan[3].score = f64::NAN;
        assert!(matches!(
            BiasReport::compute(&nan, &BiasOptions::default()),
            Err(RankError::NaN { which: "scores", index: 3 })
        ));
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
                JoinedRow { index: r.index(), arch: a, score: truth + 4.0 * a.num_param_free() as f64, truth }
            })
            .collect();
        let r = BiasReport::compute(&rows, &BiasOptions::default()).unwrap();
        let pf = r.features.iter().find(|f| f.feature == Feature::ParamFreeCount).unwrap();
        assert!(pf.spearman_rank_error.unwrap() < -0.3, "{:?}", pf.spearman_rank_error);
        assert_eq!(pf.groups.len(), 7);
        // Mean rank error falls as the parameter-free count rises.
        assert!(pf.groups[0].mean_rank_error > pf.groups[6].mean_rank_error);
        // Parameters take more than max_groups distinct values over all cells, so they come in 5 bins.
        let params = r.features.iter().find(|f| f.feature == Feature::Params).unwrap();
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
