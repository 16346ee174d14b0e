//! The ranking report across spaces: [`RankSummary`], the compact figures `oxnas rank` stores in
//! rank.json for it, and collecting the summaries of many rank output directories into one table.
//!
//! A summary is self-contained (space, truth, statistics, strongest bias, the supernet's τ per
//! epoch), so the report reads nothing but rank.json and the plots beside it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bias::BiasReport;
use super::report::{PercentValue, RankReport};
use super::scores::Joined;
use super::stats;
use super::RankError;
use crate::oneshot::RankSpace;

/// The supernet's training log beside the scores it produced.
pub const SUPERNET_LOG: &str = "supernet.jsonl";
/// The file `oxnas rank` writes into its output directory.
pub const RANK_JSON: &str = "rank.json";

/// Everything that can go wrong collecting rank summaries.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{}: not a directory; give rank output directories (holding rank.json) or directories above them", path.display())]
    NotADir { path: PathBuf },
    #[error(
        "{}: no rank.json in it or below it; run `oxnas rank --scores <scores CSV>` first (it writes <scores>.rank/rank.json)",
        path.display()
    )]
    NoRankDirs { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a rank.json of oxnas: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{}: no `summary` (written by an older oxnas); rerun `oxnas rank --scores {scores}` with the same options to add it",
        path.display()
    )]
    NoSummary { path: PathBuf, scores: String },
    #[error("{}: line {line}: not a supernet epoch record: {source}", path.display())]
    Log {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
}

/// Kendall τ of the supernet's tracked sample after one training epoch (0-based, as in the log).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochTau {
    pub epoch: usize,
    pub tau: f64,
}

/// What the supernet log beside a scores CSV says about its training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupernetTrace {
    /// Epochs the log records.
    pub epochs: usize,
    /// The epochs that tracked τ (all of them, or every `track.every`-th).
    pub tau_per_epoch: Vec<EpochTau>,
}

/// The fields of a supernet.jsonl line the trace needs; the others are ignored.
#[derive(Deserialize)]
struct LogLine {
    epoch: usize,
    #[serde(default)]
    tau: Option<f64>,
}

impl SupernetTrace {
    /// From the text of a supernet.jsonl (`path` names it in errors). The log is rewritten whole
    /// on every epoch, so a line that does not parse is damage, not a write in progress.
    pub fn from_jsonl_str(text: &str, path: &Path) -> Result<SupernetTrace, CollectError> {
        let mut epochs = 0;
        let mut tau_per_epoch = Vec::new();
        for (at, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let rec: LogLine = serde_json::from_str(line).map_err(|source| CollectError::Log {
                path: path.to_path_buf(),
                line: at + 1,
                source,
            })?;
            epochs = epochs.max(rec.epoch + 1);
            if let Some(tau) = rec.tau {
                tau_per_epoch.push(EpochTau { epoch: rec.epoch, tau });
            }
        }
        Ok(SupernetTrace { epochs, tau_per_epoch })
    }

    /// The trace of the supernet run whose directory holds `scores` (where `oxnas supernet score`
    /// writes by default), or None when that directory has no supernet.jsonl.
    pub fn beside(scores: &Path) -> Result<Option<SupernetTrace>, CollectError> {
        let dir = scores.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let log = dir.join(SUPERNET_LOG);
        if !log.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&log).map_err(|source| CollectError::Read { path: log.clone(), source })?;
        Self::from_jsonl_str(&text, &log).map(Some)
    }
}

/// The feature most correlated with the rank error, as [`BiasReport::strongest`] picks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrongestBias {
    pub feature: String,
    /// Spearman ρ of the feature with the rank error; negative: the supernet over-rates cells with
    /// more of it.
    pub spearman_rank_error: f64,
    /// Whether the bias report calls it a bias (enough cells and |ρ| at least the threshold).
    pub called: bool,
    /// The cells it favours, in the space's words ("cells with more skip-connections").
    pub favours: String,
}

/// The figures of one ranking run that the cross-space report shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankSummary {
    pub space: String,
    /// Rows of the scores table.
    pub archs_scored: usize,
    /// Scored architectures with a ground-truth value: the statistics are over these.
    pub archs_ranked: usize,
    /// The truth's name: a NAS-Bench-201 column, or `file:column` for a CSV.
    pub truth: String,
    pub kendall_tau: f64,
    pub spearman_rho: f64,
    /// Precision of the supernet's top 1% (k = the set size the percentage comes to).
    pub top_1_percent: PercentValue,
    pub top_10_percent: PercentValue,
    /// Precision of the supernet's bottom 10% among the true bottom 10%.
    pub bottom_10_percent: PercentValue,
    pub strongest_bias: Option<StrongestBias>,
    /// None when the scores' directory holds no supernet.jsonl (e.g. scores of a search run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supernet: Option<SupernetTrace>,
}

impl RankSummary {
    /// From the reports `oxnas rank` computed over `joined`. The 1% and 10% figures are taken from
    /// `report` where it has them, else computed the same way, so a summary always has them.
    pub fn compute(
        space: &dyn RankSpace,
        joined: &Joined,
        report: &RankReport,
        bias: &BiasReport,
        supernet: Option<SupernetTrace>,
    ) -> Result<RankSummary, RankError> {
        let s = report.score_better.orient(&joined.scores());
        let t = report.truth_better.orient(&joined.truths());
        let at = |top: bool, percent: f64| -> Result<PercentValue, RankError> {
            let listed = if top { &report.top_percent_hit } else { &report.bottom_percent_hit };
            if let Some(v) = listed.iter().find(|v| v.percent == percent) {
                return Ok(*v);
            }
            let k = stats::percent_to_k(s.len(), percent)?;
            let value = if top { stats::precision_at_k(&s, &t, k)? } else { stats::bottom_precision_at_k(&s, &t, k)? };
            Ok(PercentValue { percent, k, value })
        };
        let strongest_bias = bias.strongest().map(|(f, r)| {
            let def = space.features().iter().find(|d| d.name == f.feature);
            let favours = def.map_or_else(
                || format!("{} {}", if r < 0.0 { "more" } else { "less" }, f.feature),
                |d| (if r < 0.0 { d.high } else { d.low }).to_string(),
            );
            StrongestBias { feature: f.feature.clone(), spearman_rank_error: r, called: bias.called(), favours }
        });
        Ok(RankSummary {
            space: space.name().to_string(),
            archs_scored: joined.scored,
            archs_ranked: report.n,
            truth: joined.truth_name.clone(),
            kendall_tau: report.kendall_tau_b,
            spearman_rho: report.spearman_rho,
            top_1_percent: at(true, 1.0)?,
            top_10_percent: at(true, 10.0)?,
            bottom_10_percent: at(false, 10.0)?,
            strongest_bias,
            supernet,
        })
    }
}

/// One rank output directory and its summary.
#[derive(Debug, Clone, PartialEq)]
pub struct RankRun {
    pub dir: PathBuf,
    /// The scores CSV as `oxnas rank` was given it.
    pub scores: String,
    pub summary: RankSummary,
}

/// The part of rank.json the report reads.
#[derive(Deserialize)]
struct RankJson {
    scores: String,
    #[serde(default)]
    summary: Option<RankSummary>,
}

impl RankRun {
    /// Reads `<dir>/rank.json`.
    pub fn read(dir: &Path) -> Result<RankRun, CollectError> {
        let path = dir.join(RANK_JSON);
        let text =
            std::fs::read_to_string(&path).map_err(|source| CollectError::Read { path: path.clone(), source })?;
        let json: RankJson =
            serde_json::from_str(&text).map_err(|source| CollectError::Json { path: path.clone(), source })?;
        let summary = json.summary.ok_or_else(|| CollectError::NoSummary { path, scores: json.scores.clone() })?;
        Ok(RankRun { dir: dir.to_path_buf(), scores: json.scores, summary })
    }
}

/// The rank output directories at or below each of `roots`, each once, in the order of `roots`
/// and by path below each. A root with none is an error naming it.
pub fn find_rank_dirs(roots: &[PathBuf]) -> Result<Vec<PathBuf>, CollectError> {
    let mut found = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for root in roots {
        if !root.is_dir() {
            return Err(CollectError::NotADir { path: root.clone() });
        }
        let mut here = Vec::new();
        walk(root, &mut here, &mut std::collections::BTreeSet::new())?;
        if here.is_empty() {
            return Err(CollectError::NoRankDirs { path: root.clone() });
        }
        for dir in here {
            // The same directory reached from two roots (or through a link) is reported once.
            let key = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if seen.insert(key) {
                found.push(dir);
            }
        }
    }
    Ok(found)
}

/// Depth-first, sorted by name; a directory with rank.json is a leaf. `visited` holds canonical
/// paths, so a link back up the tree does not loop.
fn walk(
    dir: &Path,
    found: &mut Vec<PathBuf>,
    visited: &mut std::collections::BTreeSet<PathBuf>,
) -> Result<(), CollectError> {
    let canonical = std::fs::canonicalize(dir).map_err(|source| CollectError::Read { path: dir.into(), source })?;
    if !visited.insert(canonical) {
        return Ok(());
    }
    if dir.join(RANK_JSON).is_file() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let read = |source| CollectError::Read { path: dir.to_path_buf(), source };
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read)? {
        let path = entry.map_err(read)?.path();
        if path.is_dir() {
            subdirs.push(path);
        }
    }
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, found, visited)?;
    }
    Ok(())
}

/// The summaries of every rank output directory at or below `roots`.
pub fn collect(roots: &[PathBuf]) -> Result<Vec<RankRun>, CollectError> {
    find_rank_dirs(roots)?.iter().map(|d| RankRun::read(d)).collect()
}

/// The report table's columns: the run, then its figures.
pub const COLUMNS: [&str; 11] = [
    "run",
    "space",
    "supernet epochs",
    "archs scored",
    "ground truth",
    "Kendall τ",
    "Spearman ρ",
    "P@top-1%",
    "P@top-10%",
    "bottom-10% precision",
    "strongest bias",
];

fn fmt_percent(v: &PercentValue) -> String {
    format!("{:.2} (k={})", v.value, v.k)
}

/// A CSV truth by its file name and column; a table column as it is.
fn fmt_truth(truth: &str) -> String {
    match truth.rsplit_once(':') {
        Some((file, column)) if file.ends_with(".csv") => {
            let name = Path::new(file).file_name().map_or_else(|| file.into(), |n| n.to_string_lossy());
            format!("{name}:{column}")
        }
        _ => truth.to_string(),
    }
}

fn fmt_bias(b: &Option<StrongestBias>) -> String {
    match b {
        None => "none (no feature varies with the rank error)".into(),
        Some(b) if b.called => format!("favours {} ({} ρ {:+.2})", b.favours, b.feature, b.spearman_rank_error),
        Some(b) => format!("none called (strongest: {} ρ {:+.2})", b.feature, b.spearman_rank_error),
    }
}

/// The table cells of one run, in [`COLUMNS`] order, as plain text (callers escape for their format).
pub fn row(label: &str, s: &RankSummary) -> [String; 11] {
    let scored = if s.archs_ranked == s.archs_scored {
        s.archs_ranked.to_string()
    } else {
        format!("{} ({} scored, {} without truth)", s.archs_ranked, s.archs_scored, s.archs_scored - s.archs_ranked)
    };
    [
        label.to_string(),
        s.space.clone(),
        s.supernet.as_ref().map_or_else(|| "–".into(), |t| t.epochs.to_string()),
        scored,
        fmt_truth(&s.truth),
        format!("{:+.3}", s.kendall_tau),
        format!("{:+.3}", s.spearman_rho),
        fmt_percent(&s.top_1_percent),
        fmt_percent(&s.top_10_percent),
        fmt_percent(&s.bottom_10_percent),
        fmt_bias(&s.strongest_bias),
    ]
}

/// A Markdown table cell: pipes would end the cell, line breaks the row.
fn md_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The runs as a Markdown table, one row each, labelled by `labels`.
pub fn markdown_table(runs: &[(String, &RankSummary)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(COLUMNS.len()));
    for (label, summary) in runs {
        let cells: Vec<String> = row(label, summary).iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oneshot::Nb201RankSpace;
    use crate::rank::bias::BiasOptions;
    use crate::rank::report::RankOptions;
    use crate::rank::scores::JoinedRow;

    /// A rank.json as `oxnas rank` writes it, cut down to the fields the report reads plus one it
    /// ignores (`rank`), with hand-picked figures.
    fn rank_json(space: &str, tau: f64, epochs: Option<usize>) -> String {
        let supernet = epochs.map_or(String::new(), |e| {
            format!(r#", "supernet": {{"epochs": {e}, "tau_per_epoch": [{{"epoch": 0, "tau": 0.1}}, {{"epoch": 2, "tau": 0.25}}]}}"#)
        });
        format!(
            r#"{{"scores": "runs/{space}/scores.csv", "truth": "cifar10_test_200ep", "rank": {{"n": 40}},
"summary": {{"space": "{space}", "archs_scored": 45, "archs_ranked": 40, "truth": "runs/gt/truth.csv:accuracy",
"kendall_tau": {tau}, "spearman_rho": 0.6123, "top_1_percent": {{"percent": 1.0, "k": 1, "value": 0.0}},
"top_10_percent": {{"percent": 10.0, "k": 4, "value": 0.5}}, "bottom_10_percent": {{"percent": 10.0, "k": 4, "value": 0.75}},
"strongest_bias": {{"feature": "skip_count", "spearman_rank_error": -0.4567, "called": true,
"favours": "cells with more skip-connections"}}{supernet}}}}}"#
        )
    }

    fn write(dir: &Path, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(RANK_JSON), text).unwrap();
    }

    #[test]
    fn reads_a_hand_written_rank_json_into_a_table_row() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a.rank");
        write(&dir, &rank_json("nb201", 0.4321, Some(6)));
        let run = RankRun::read(&dir).unwrap();
        assert_eq!(run.scores, "runs/nb201/scores.csv");
        let s = &run.summary;
        assert_eq!((s.space.as_str(), s.archs_scored, s.archs_ranked), ("nb201", 45, 40));
        let trace = s.supernet.as_ref().unwrap();
        assert_eq!(trace.epochs, 6);
        assert_eq!(trace.tau_per_epoch, vec![EpochTau { epoch: 0, tau: 0.1 }, EpochTau { epoch: 2, tau: 0.25 }]);
        assert_eq!(
            row("a", s),
            [
                "a",
                "nb201",
                "6",
                "40 (45 scored, 5 without truth)",
                "truth.csv:accuracy",
                "+0.432",
                "+0.612",
                "0.00 (k=1)",
                "0.50 (k=4)",
                "0.75 (k=4)",
                "favours cells with more skip-connections (skip_count ρ -0.46)",
            ]
        );
    }

    #[test]
    fn markdown_table_has_a_row_per_run_and_escapes_pipes() {
        let tmp = tempfile::tempdir().unwrap();
        write(&tmp.path().join("x"), &rank_json("nb201", 0.5, None));
        let mut s = RankRun::read(&tmp.path().join("x")).unwrap().summary;
        let mut uncalled = s.clone();
        uncalled.strongest_bias.as_mut().unwrap().called = false;
        s.truth = "cifar10_test_200ep".into();
        let md = markdown_table(&[("one|two".into(), &s), ("b".into(), &uncalled)]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4, "{md}");
        assert_eq!(lines[0], format!("| {} |", COLUMNS.join(" | ")));
        assert_eq!(lines[1].matches("---|").count(), COLUMNS.len());
        assert!(lines[2]
            .starts_with(r"| one\|two | nb201 | – | 40 (45 scored, 5 without truth) | cifar10_test_200ep | +0.500 |"));
        assert!(lines[3].ends_with("| none called (strongest: skip_count ρ -0.46) |"), "{}", lines[3]);
    }

    #[test]
    fn finds_rank_dirs_below_roots_once_each_in_path_order() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for d in ["b/run/s.csv.rank", "a/s1.csv.rank", "a/s2.csv.rank", "a/s2.csv.rank/nested"] {
            write(&root.join(d), &rank_json("nb201", 0.1, None));
        }
        std::fs::create_dir_all(root.join("empty/deeper")).unwrap();
        let found = find_rank_dirs(&[root.to_path_buf(), root.join("a/s1.csv.rank")]).unwrap();
        let rel: Vec<_> = found.iter().map(|p| p.strip_prefix(root).unwrap().to_str().unwrap()).collect();
        // A rank dir is a leaf (nothing below it is searched); a dir named twice is listed once.
        assert_eq!(rel, ["a/s1.csv.rank", "a/s2.csv.rank", "b/run/s.csv.rank"]);
        assert_eq!(collect(&[root.join("b")]).unwrap().len(), 1);
    }

    #[test]
    fn clear_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("empty/deeper")).unwrap();
        let e = find_rank_dirs(&[root.join("empty")]).unwrap_err();
        assert!(matches!(&e, CollectError::NoRankDirs { path } if path.ends_with("empty")), "{e}");
        assert!(e.to_string().contains("oxnas rank --scores"), "{e}");
        let e = find_rank_dirs(&[root.join("nope")]).unwrap_err();
        assert!(matches!(e, CollectError::NotADir { .. }), "{e}");

        write(&root.join("old"), r#"{"scores": "s.csv", "truth": "t", "rank": {}}"#);
        let e = RankRun::read(&root.join("old")).unwrap_err();
        assert!(e.to_string().contains("rerun `oxnas rank --scores s.csv`"), "{e}");
        write(&root.join("bad"), "{");
        assert!(matches!(RankRun::read(&root.join("bad")), Err(CollectError::Json { .. })));
    }

    #[test]
    fn supernet_trace_from_a_log() {
        let log = concat!(
            r#"{"epoch":0,"lr":0.1,"train_loss":2.0,"train_acc":10.0,"tau":0.125,"rho":0.2,"epoch_time_s":1.0,"images_per_s":5.0}"#,
            "\n",
            r#"{"epoch":1,"lr":0.1,"train_loss":1.9,"train_acc":11.0,"tau":null,"rho":null,"epoch_time_s":1.0,"images_per_s":5.0}"#,
            "\n",
            r#"{"epoch":2,"lr":0.1,"train_loss":1.8,"train_acc":12.0,"tau":-0.5,"rho":0.3,"epoch_time_s":1.0,"images_per_s":5.0}"#,
            "\n"
        );
        let t = SupernetTrace::from_jsonl_str(log, Path::new("supernet.jsonl")).unwrap();
        assert_eq!(t.epochs, 3);
        assert_eq!(t.tau_per_epoch, vec![EpochTau { epoch: 0, tau: 0.125 }, EpochTau { epoch: 2, tau: -0.5 }]);
        let e = SupernetTrace::from_jsonl_str("{\"epoch\":0}\nnot json\n", Path::new("x/supernet.jsonl")).unwrap_err();
        assert!(matches!(e, CollectError::Log { line: 2, .. }), "{e}");

        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(SupernetTrace::beside(&tmp.path().join("scores.csv")).unwrap(), None);
        std::fs::write(tmp.path().join(SUPERNET_LOG), log).unwrap();
        assert_eq!(SupernetTrace::beside(&tmp.path().join("scores.csv")).unwrap(), Some(t));
    }

    /// Summary of 20 NB201 cells whose score is the truth except for two swaps, so every figure is
    /// known by hand.
    #[test]
    fn summary_of_a_known_ranking() {
        let table = crate::bench::Nb201Table::embedded();
        let rows: Vec<JoinedRow> = table
            .rows()
            .take(20)
            .enumerate()
            .map(|(i, r)| JoinedRow { index: Some(r.index()), arch: r.arch().to_string(), score: 0.0, truth: i as f64 })
            .collect();
        // Truth 0..19 (19 best). Scores: the truth, with the best and the worst swapped with their
        // neighbours: score order of truths 19,18 and of 0,1 is reversed.
        let mut rows = rows;
        for r in rows.iter_mut() {
            r.score = match r.truth as usize {
                19 => 18.0,
                18 => 19.0,
                0 => 1.0,
                1 => 0.0,
                t => t as f64,
            };
        }
        let joined =
            Joined { truth_name: "toy".into(), rows: rows.clone(), scored: 22, missing: vec!["a".into(), "b".into()] };
        // Percents without 1 and 10: the summary must compute those itself.
        let opts = RankOptions { percents: vec![5.0], ..RankOptions::default() };
        let report = RankReport::from_joined(&joined, &opts).unwrap();
        let bias = BiasReport::compute(&rows, &Nb201RankSpace::default(), &BiasOptions::default()).unwrap();
        let s = RankSummary::compute(&Nb201RankSpace::default(), &joined, &report, &bias, None).unwrap();
        // 190 pairs, 2 discordant: τ = (188 - 2) / 190; ρ = 1 - 6·4 / (20·399).
        assert!((s.kendall_tau - 186.0 / 190.0).abs() < 1e-12, "{}", s.kendall_tau);
        assert!((s.spearman_rho - (1.0 - 24.0 / 7980.0)).abs() < 1e-12, "{}", s.spearman_rho);
        // 1% of 20 is one cell: the supernet's best (truth 18) is not the true best.
        assert_eq!(s.top_1_percent, PercentValue { percent: 1.0, k: 1, value: 0.0 });
        // 10% is two cells: {19, 18} both ways; the bottom two {0, 1} both ways.
        assert_eq!(s.top_10_percent, PercentValue { percent: 10.0, k: 2, value: 1.0 });
        assert_eq!(s.bottom_10_percent, PercentValue { percent: 10.0, k: 2, value: 1.0 });
        assert_eq!((s.archs_scored, s.archs_ranked, s.truth.as_str(), s.space.as_str()), (22, 20, "toy", "nb201"));
        // The strongest bias is the bias report's own pick.
        let (f, r) = bias.strongest().unwrap();
        let b = s.strongest_bias.as_ref().unwrap();
        assert_eq!((b.feature.as_str(), b.spearman_rank_error, b.called), (f.feature.as_str(), r, bias.called()));
        let max = bias.features.iter().filter_map(|f| f.spearman_rank_error).map(f64::abs).fold(0.0, f64::max);
        assert_eq!(r.abs(), max);
        // Round trip through JSON, as rank.json stores it.
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<RankSummary>(&json).unwrap(), s);
    }
}
