//! How well does a supernet rank architectures? (Zhang, Zhang & Yang, "How Does Supernet Help in NAS?",
//! 2020; the statistics are defined in docs/algorithms.md#ranking.)
//!
//! - [`stats`]: Kendall τ-b, Spearman ρ, Pearson r, average ranks and the top-k / bottom-k views.
//! - [`scores`]: the per-architecture score table a supernet evaluation writes, ground-truth sources
//!   (a column of the embedded NAS-Bench-201 table or a user CSV) and joining the two by NB201 index.
//! - [`report`]: [`RankReport`], every ranking figure for one (scores, truth) pairing plus a verdict.
//! - [`bias`]: cell features (parameter-free ops, skips, depth, parameters) against score, truth and
//!   rank error, to show which kinds of cells the supernet over- or under-rates.
//! - [`nb101_truth`]: ground truth from a NAS-Bench-101 table imported by `oxnas bench import nb101`.
//! - [`nds`]: ground truth from the model records of "On Network Design Spaces" (NDS's `DARTS.json`).
//! - [`collect`]: [`RankSummary`], the compact figures of one ranking run, and collecting those of
//!   many runs (any spaces) into one table for `oxnas report ranking`.

pub mod bias;
pub mod collect;
pub mod nb101_truth;
pub mod nds;
pub mod report;
pub mod scores;
pub mod stats;

use std::path::PathBuf;

pub use bias::{BiasOptions, BiasReport, FeatureBias, GroupMean};
pub use collect::{CollectError, RankRun, RankSummary, SupernetTrace};
pub use nb101_truth::{Nb101TruthError, Nb101TruthSpec};
pub use nds::{NdsError, NdsTruth};
pub use report::{KValue, PercentValue, RankOptions, RankReport};
pub use scores::{join, ArchScores, GroundTruth, Joined, JoinedRow, ScoreRow, TruthSource};
pub use stats::Better;

/// Everything that can go wrong computing ranking statistics or reading their inputs.
#[derive(Debug, thiserror::Error)]
pub enum RankError {
    #[error(
        "length mismatch: {left_name} has {left} values but {right_name} has {right}; every score needs exactly \
         one ground-truth value"
    )]
    LengthMismatch { left_name: &'static str, left: usize, right_name: &'static str, right: usize },
    #[error("too few points for {what}: {n} given, at least {min} needed")]
    TooFewPoints { what: &'static str, n: usize, min: usize },
    #[error("{which}[{index}] is NaN; ranking statistics need real numbers, so drop or re-evaluate that entry")]
    NaN { which: &'static str, index: usize },
    #[error("{which}[{index}] is {value}; ranking statistics need finite numbers, so drop or clip that entry")]
    Infinite { which: &'static str, index: usize, value: f64 },
    #[error("all {n} values of {which} are equal, so {what} is undefined (it needs at least two distinct values)")]
    Constant { which: &'static str, what: &'static str, n: usize },
    #[error("k = {k} is out of range for {n} points; k must be in 1..={n}")]
    BadK { k: usize, n: usize },
    #[error("none of the {scored} scored cells is in the truth {truth}: the two share no rows; check that both describe the same cells (same space, same index order)")]
    NoOverlap { scored: usize, truth: String },
    #[error("percent {percent} is out of range; give a percentage in (0, 100], e.g. 10 for the top 10%")]
    BadPercent { percent: f64 },

    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: no header line; a score CSV starts with `index,arch_str,score,loss`, a truth CSV with `arch_str,accuracy` or `index,accuracy`")]
    CsvEmpty { file: String },
    #[error("{file}: line {line}: bad header: {detail}")]
    CsvHeader { file: String, line: usize, detail: String },
    #[error("{file}: line {line}: {found} comma-separated fields, the header has {expected}; fields must not contain commas")]
    CsvFieldCount { file: String, line: usize, found: usize, expected: usize },
    #[error("{file}: line {line}: unknown architecture `{text}`: {reason}")]
    CsvArch { file: String, line: usize, text: String, reason: String },
    #[error(
        "{file}: line {line}: `{text}` is not an index of the {space} space (NAS-Bench-201 cells have indices \
         0..=15624; other spaces name architectures in an `arch_str` column)"
    )]
    CsvIndex { file: String, line: usize, text: String, space: &'static str },
    #[error(
        "{file}: line {line}: index {index} is not the index of `{arch}` (that is {arch_index}); fix one of the two \
         or drop the index column"
    )]
    CsvIndexArchMismatch { file: String, line: usize, index: usize, arch: String, arch_index: String },
    #[error("{file}: line {line}, column `{column}`: `{text}` is not a number{reason}")]
    CsvNumber { file: String, line: usize, column: String, text: String, reason: String },
    #[error(
        "{file}: line {line}: architecture `{arch}` already appeared on line {first_line}; give each architecture once"
    )]
    CsvDuplicate { file: String, line: usize, arch: String, first_line: usize },
    #[error("{file}: the header is there but no data rows follow")]
    CsvNoRows { file: String },

    #[error("architecture `{arch}` is scored twice (rows {first} and {second}); give each architecture once")]
    DuplicateArch { arch: String, first: usize, second: usize },
    #[error("extra column name `{name}` cannot be written: {reason}")]
    BadExtraName { name: String, reason: &'static str },
    #[error("unknown ground truth `{name}`: not a column of the NAS-Bench-201 table ({columns}), not a path ending in .csv, not nds:FILE or nb101:TABLE")]
    UnknownTruth { name: String, columns: String },
    #[error(
        "no exact parameter count for `{arch}`; the exact map must cover every joined architecture, or leave it \
         out to use the space's own count"
    )]
    MissingParams { arch: String },
    #[error(
        "ground truth `{truth}` is a NAS-Bench-201 table column, but the architectures are of the {space} space; \
         give a CSV of `arch_str,accuracy` for that space (e.g. from `oxnas groundtruth`)"
    )]
    TruthSpace { truth: String, space: &'static str },
    #[error(
        "ground truth `{truth}` is an NDS model file, whose cells are DARTS genotypes, but the architectures are of \
         the {space} space; rank DARTS scores with it (--space darts)"
    )]
    NdsSpace { truth: String, space: &'static str },
    #[error(transparent)]
    Arch(#[from] crate::oneshot::ArchError),
    #[error(transparent)]
    Nds(#[from] nds::NdsError),
    #[error(
        "ground truth `{truth}` is a NAS-Bench-101 table, but the architectures are of the {space} space; rank \
         NAS-Bench-101 scores with it (--space nb101)"
    )]
    Nb101Space { truth: String, space: &'static str },
    #[error(transparent)]
    Nb101(#[from] nb101_truth::Nb101TruthError),
}

/// Rejects NaN and infinities with the position of the first offender, so that a user can find the row.
pub(crate) fn check_finite(which: &'static str, values: &[f64]) -> Result<(), RankError> {
    for (index, &value) in values.iter().enumerate() {
        if value.is_nan() {
            return Err(RankError::NaN { which, index });
        }
        if value.is_infinite() {
            return Err(RankError::Infinite { which, index, value });
        }
    }
    Ok(())
}
