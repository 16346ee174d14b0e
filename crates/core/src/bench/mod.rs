//! The NAS-Bench-201 ground-truth table.
//!
//! All 15,625 cells with every column of the MIT-licensed `nb201_accuracies.csv` export of the
//! NAS-Bench-201 results (arch string, isomorphism class, nine accuracy columns) ship inside the
//! binary in a compact form ([`compact`]), so queries never need the 3.7 MB CSV or the multi-GB
//! official API file.
//! [`Nb201Table::embedded`] decodes it once on first use; [`Nb201Table::from_csv_path`] loads the
//! CSV itself, e.g. to check a regenerated asset.
//!
//! Accuracies are kept as integer micro-percent (the CSV has exactly 6 decimals), so every value
//! prints back to the CSV's text bit for bit.

mod column;
pub mod compact;
mod report;
mod table;

pub use column::Column;
pub use report::{ColumnStats, QueryReport, StatsReport, TopEntry, TopReport};
pub use table::{Nb201Table, RowRef, NUM_CELLS};

use std::path::PathBuf;

/// Everything that can go wrong loading or querying the NAS-Bench-201 table.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot read {}: {source}; check the path (the CSV ships as shared/data/nasbench201/nb201_accuracies.csv)", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("line 1: the header must be `{expected}`{detail}; pass the NAS-Bench-201 accuracy CSV unchanged", expected = Column::csv_header())]
    CsvHeader { detail: String },
    #[error("line {line}: {found} comma-separated fields, expected {expected}; fields must not contain commas and rows must not be cut short")]
    CsvFieldCount { line: usize, found: usize, expected: usize },
    #[error("line {line}: index `{found}` should be {expected}; rows must be in NAS-Bench-201 index order 0..15624 with no gaps")]
    CsvIndex { line: usize, found: String, expected: usize },
    #[error("line {line}: bad arch string `{text}`: {reason}; the form is |op~0|+|op~0|op~1|+|op~0|op~1|op~2|")]
    CsvArch { line: usize, text: String, reason: String },
    #[error("line {line}: arch `{arch}` already appeared on line {first_line}; each of the 15625 cells must occur exactly once")]
    CsvDuplicateArch { line: usize, arch: String, first_line: usize },
    #[error("line {line}: unique_str is empty; every row needs its NATS-Bench isomorphism string")]
    CsvUniqueStr { line: usize },
    #[error("line {line}, column {column}: bad accuracy `{text}`: {reason}; write a percentage in 0..=100 with at most 6 decimals, e.g. 93.123456")]
    CsvValue { line: usize, column: &'static str, text: String, reason: String },
    #[error("the CSV has {found} data rows, expected {expected}; the table must cover every NAS-Bench-201 cell")]
    CsvRowCount { found: usize, expected: usize },

    #[error("not a compact NAS-Bench-201 table (magic bytes {found:02x?}, expected {expected:02x?}); pass bytes written by Nb201Table::to_compact, or load the CSV with Nb201Table::from_csv_path")]
    BadMagic { found: Vec<u8>, expected: Vec<u8> },
    #[error("compact NAS-Bench-201 table has format version {found}, this oxnas reads version {supported}; regenerate it from the CSV with this oxnas (see bench/compact.rs)")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("compact NAS-Bench-201 table is truncated: {needed} bytes needed, {found} present; the file was cut short, copy or regenerate it again")]
    Truncated { needed: usize, found: usize },
    #[error("compact NAS-Bench-201 table is corrupt: checksum {computed:08x} does not match the stored {stored:08x}; copy or regenerate the file again")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("compact NAS-Bench-201 table is malformed: {0}; regenerate it from the CSV (see bench/compact.rs)")]
    Malformed(String),
    #[error("NAS-Bench-201 table data is inconsistent: {0}; regenerate the compact file from the unmodified CSV (see bench/compact.rs)")]
    Inconsistent(String),

    #[error("unknown column `{name}`; valid columns: {}", Column::ALL.map(Column::name).join(", "))]
    UnknownColumn { name: String },
    #[error("`{text}` is neither a cell index in 0..=15624 nor an arch string like |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2| ({reason})")]
    BadQuery { text: String, reason: String },
}
