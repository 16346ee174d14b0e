//! Splitting embarrassingly parallel work (ground-truth cells, scored cells, search seeds) into
//! shards, and joining the shards' outputs into the file a single run would have written.
//!
//! A job's work is an ordered list of keys (NAS-Bench-201 indices, seeds). Shard `i/N` takes the
//! `i`-th of N contiguous blocks of that list, so the shards' rows concatenated in shard order are the
//! single run's rows in the single run's order. Each shard writes, next to the merged file `F`, into
//! `F.shards/`:
//!
//! - `shard-I-of-N.json` ([`ShardMeta`]): the settings the rows depend on, the CSV header and the keys
//!   the shard owes, written before any work. Merging refuses shards whose settings differ.
//! - `shard-I-of-N.csv`: its rows, one per key, first column the key; written atomically and resumed
//!   as the single-run commands do (a rerun skips the keys already there).
//!
//! Rows are copied verbatim, so for deterministic work the merged file is byte-identical to the file
//! one process writes.

use crate::fsutil::write_atomic;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ShardError {
    #[error("'{text}' is not a shard: {why}. Write I/N with 0 <= I < N, e.g. --shard 0/4 for the first of four")]
    Spec { text: String, why: String },
    #[error("'{text}' is not a seed list: {why}. Write a range A..B (B excluded, e.g. 0..8) or a comma list (0,3,7)")]
    Seeds { text: String, why: String },
    #[error("{dir} holds no shard files (shard-I-of-N.json); run the command with --shards N or --shard I/N first")]
    NoShards { dir: String },
    #[error("{dir} mixes shards of different splits ({found}); delete the files of the split you no longer want")]
    MixedCounts { dir: String, found: String },
    #[error("{dir} already holds shards of a {have}-way split, not {want}; use --shards {have} (or --shard I/{have}), or delete {dir} to start afresh")]
    OtherCount { dir: String, have: usize, want: usize },
    #[error("{done} of {count} shards in {dir} are finished; not finished: {list}. Run the rest with `oxnas jobs resubmit {dir}` (or the command with --shard I/{count}), then merge again")]
    NotFinished { dir: String, done: usize, count: usize, list: String },
    #[error("{file} was written with other settings than {first}: {diff}. Delete that shard's files and run it again with the settings of the others (or delete {dir} to start the whole job afresh)")]
    OtherSettings { file: String, first: String, diff: String, dir: String },
    #[error(
        "{file} has header '{found}', not '{expected}' as its settings file says; delete it and run that shard again"
    )]
    Header { file: String, found: String, expected: String },
    #[error("{file}, line {line}: {why}")]
    Row { file: String, line: usize, why: String },
    #[error("{path} exists and differs from the merged shards; delete it or merge with --force to replace it")]
    Exists { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is not a shard settings file: {source}")]
    Json { path: String, source: serde_json::Error },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ShardError {
    let path = path.display().to_string();
    move |source| ShardError::Io { path, source }
}

/// Shard `index` of `count`, 0-based as Slurm numbers array tasks: `--shard 2/4` is the third of four.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        let text = format!("{index}/{count}");
        if count == 0 {
            return Err(ShardError::Spec { text, why: "N must be at least 1".into() });
        }
        if index >= count {
            return Err(ShardError::Spec {
                text,
                why: format!("I must be below N (shards are numbered 0 to {})", count - 1),
            });
        }
        Ok(Shard { index, count })
    }

    /// All shards of an N-way split, in order.
    pub fn all(count: usize) -> impl Iterator<Item = Shard> {
        (0..count).map(move |index| Shard { index, count })
    }

    /// This shard's block of a list of `len` items: contiguous, blocks in shard order, sizes differing
    /// by at most one. Contiguity is what makes concatenating shard outputs give the single run's order.
    pub fn range(&self, len: usize) -> Range<usize> {
        self.index * len / self.count..(self.index + 1) * len / self.count
    }

    /// `shard-I-of-N`, with I zero-padded to N's width so that a directory listing sorts in order.
    pub fn stem(&self) -> String {
        let width = (self.count - 1).to_string().len();
        format!("shard-{:0width$}-of-{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = |why: &str| ShardError::Spec { text: s.to_string(), why: why.to_string() };
        let (i, n) = s.trim().split_once('/').ok_or_else(|| spec("no '/'"))?;
        let i = i.trim().parse().map_err(|_| spec("I is not a whole number"))?;
        let n = n.trim().parse().map_err(|_| spec("N is not a whole number"))?;
        Shard::new(i, n).map_err(|e| match e {
            ShardError::Spec { why, .. } => spec(&why),
            other => other,
        })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Seeds of a sweep: `0..8` (8 excluded, as in Rust) or `0,3,7`. Order is kept; repeats are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedList(pub Vec<u64>);

impl FromStr for SeedList {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| ShardError::Seeds { text: s.to_string(), why: why.to_string() };
        let seeds: Vec<u64> = if let Some((a, b)) = s.trim().split_once("..") {
            let a: u64 = a.trim().parse().map_err(|_| bad("the start is not a whole number"))?;
            let b: u64 = b.trim().parse().map_err(|_| bad("the end is not a whole number"))?;
            (a..b).collect()
        } else {
            s.split(',')
                .map(|p| p.trim().parse().map_err(|_| bad(&format!("'{}' is not a whole number", p.trim()))))
                .collect::<Result<_, _>>()?
        };
        if seeds.is_empty() {
            return Err(bad("it names no seed"));
        }
        let mut seen = BTreeSet::new();
        if let Some(dup) = seeds.iter().find(|s| !seen.insert(**s)) {
            return Err(bad(&format!("seed {dup} appears twice")));
        }
        Ok(SeedList(seeds))
    }
}

/// Where the shards of the merged file `F` live: `F.shards/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardDir {
    pub dir: PathBuf,
}

const SUFFIX: &str = ".shards";

impl ShardDir {
    pub fn for_output(merged: &Path) -> Self {
        ShardDir { dir: PathBuf::from(format!("{}{SUFFIX}", merged.display())) }
    }

    /// A shards directory named directly, or the merged file whose `F.shards/` exists.
    pub fn find(path: &Path) -> Option<Self> {
        let named = path.to_string_lossy();
        if named.trim_end_matches('/').ends_with(SUFFIX) && path.is_dir() {
            return Some(ShardDir { dir: PathBuf::from(named.trim_end_matches('/')) });
        }
        let beside = ShardDir::for_output(path);
        beside.dir.is_dir().then_some(beside)
    }

    /// The file the shards merge into.
    pub fn merged(&self) -> PathBuf {
        let s = self.dir.to_string_lossy();
        PathBuf::from(s.strip_suffix(SUFFIX).unwrap_or(&s).to_string())
    }
    pub fn rows(&self, s: Shard) -> PathBuf {
        self.dir.join(format!("{}.csv", s.stem()))
    }
    pub fn meta(&self, s: Shard) -> PathBuf {
        self.dir.join(format!("{}.json", s.stem()))
    }
    /// Logs of shard processes and Slurm tasks.
    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }
    /// How the shards were launched (`oxnas jobs` reads it).
    pub fn manifest(&self) -> PathBuf {
        self.dir.join("job.json")
    }

    /// The split the shard settings files in this directory belong to (None: no shard started yet).
    pub fn count(&self) -> Result<Option<usize>, ShardError> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Ok(None) };
        let mut counts: BTreeMap<usize, String> = BTreeMap::new();
        for e in entries {
            let name = e.map_err(io_err(&self.dir))?.file_name().to_string_lossy().into_owned();
            if let Some(n) = parse_meta_name(&name) {
                counts.entry(n).or_insert(name);
            }
        }
        match counts.len() {
            0 => Ok(None),
            1 => Ok(counts.keys().next().copied()),
            _ => Err(ShardError::MixedCounts {
                dir: self.dir.display().to_string(),
                found: counts.iter().map(|(n, f)| format!("{n}-way, e.g. {f}")).collect::<Vec<_>>().join("; "),
            }),
        }
    }

    /// Refuses to start an N-way split where another split's shards already are.
    pub fn check_count(&self, want: usize) -> Result<(), ShardError> {
        match self.count()? {
            Some(have) if have != want => {
                Err(ShardError::OtherCount { dir: self.dir.display().to_string(), have, want })
            }
            _ => Ok(()),
        }
    }
}

/// `shard-I-of-N.json` → N.
fn parse_meta_name(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("shard-")?.strip_suffix(".json")?;
    let (i, n) = rest.split_once("-of-")?;
    i.parse::<usize>().ok()?;
    n.parse().ok()
}

/// What a shard owes and what its rows depend on: `shard-I-of-N.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    pub shard: Shard,
    /// The rows' CSV header; its first column is the key.
    pub header: String,
    /// The keys this shard writes one row for, in the order the merged file lists them.
    pub keys: Vec<u64>,
    /// Everything the rows depend on (command, resolved config, list of work...): equal for all
    /// shards of one job.
    pub settings: serde_json::Value,
}

impl ShardMeta {
    fn read(path: &Path) -> Result<Self, ShardError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        serde_json::from_str(&text).map_err(|source| ShardError::Json { path: path.display().to_string(), source })
    }

    /// Starts shard `self.shard` in `dir`, or continues it: writes the settings file, or checks that
    /// the one there has the same settings, so a shard never mixes rows of two jobs. Returns the keys
    /// already written.
    pub fn begin(&self, dir: &ShardDir) -> Result<BTreeSet<u64>, ShardError> {
        dir.check_count(self.shard.count)?;
        let path = dir.meta(self.shard);
        if path.exists() {
            let old = ShardMeta::read(&path)?;
            if old != *self {
                let diff = if old.settings != self.settings {
                    describe_difference(&old.settings, &self.settings)
                } else {
                    describe_difference(&old.as_json(), &self.as_json())
                };
                return Err(ShardError::OtherSettings {
                    file: path.display().to_string(),
                    first: "this command's".into(),
                    diff,
                    dir: dir.dir.display().to_string(),
                });
            }
        } else {
            let text = serde_json::to_string_pretty(self).expect("shard meta is JSON");
            write_atomic(&path, text.as_bytes()).map_err(io_err(&path))?;
        }
        let rows = dir.rows(self.shard);
        Ok(read_rows(&rows, &self.header)?.into_iter().map(|(k, _)| k).collect())
    }

    fn as_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("shard meta is JSON")
    }
}

/// The rows of a keyed CSV (`key,...` under `header`): (key, line) in file order. A missing file has
/// no rows; a file with another header is refused.
pub fn read_rows(path: &Path, header: &str) -> Result<Vec<(u64, String)>, ShardError> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    let mut lines = text.lines();
    match lines.next() {
        None => return Ok(vec![]),
        Some(h) if h.trim() == header => {}
        Some(h) => {
            return Err(ShardError::Header {
                file: path.display().to_string(),
                found: h.to_string(),
                expected: header.to_string(),
            })
        }
    }
    let mut seen = BTreeSet::new();
    let mut rows = vec![];
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row_err = |why: String| ShardError::Row { file: path.display().to_string(), line: i + 2, why };
        let key: u64 = line
            .split(',')
            .next()
            .and_then(|f| f.trim().parse().ok())
            .ok_or_else(|| row_err(format!("no key (a whole number) in the first column of '{line}'")))?;
        if !seen.insert(key) {
            return Err(row_err(format!("key {key} appears twice; a shard writes each row once")));
        }
        rows.push((key, line.to_string()));
    }
    Ok(rows)
}

/// Appends one row to a keyed CSV by rewriting it atomically (a kill loses at most the row being
/// made, never a finished one or the file). The files are small: one row per trained cell or seed.
pub fn append_row(path: &Path, header: &str, row: &str) -> Result<(), ShardError> {
    let mut text =
        if path.exists() { std::fs::read_to_string(path).map_err(io_err(path))? } else { format!("{header}\n") };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(row.trim_end_matches('\n'));
    text.push('\n');
    write_atomic(path, text.as_bytes()).map_err(io_err(path))
}

/// How far a shard got, judged from its files alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardFiles {
    /// No settings file: the shard never started.
    Missing,
    /// Started; `have` of its `want` rows are written (in the rows file, or a scorer's `.partial`).
    Partial {
        have: usize,
        want: usize,
    },
    Done {
        rows: usize,
    },
}

impl ShardFiles {
    pub fn inspect(dir: &ShardDir, shard: Shard) -> Result<Self, ShardError> {
        let meta_path = dir.meta(shard);
        if !meta_path.exists() {
            return Ok(ShardFiles::Missing);
        }
        let meta = ShardMeta::read(&meta_path)?;
        let rows = dir.rows(shard);
        let want = meta.keys.len();
        let owed: BTreeSet<u64> = meta.keys.iter().copied().collect();
        let have = read_rows(&rows, &meta.header)?.iter().filter(|(k, _)| owed.contains(k)).count();
        if have == want {
            return Ok(ShardFiles::Done { rows: want });
        }
        // `oxnas supernet score` keeps its progress in <rows>.partial until it finishes.
        let partial = PathBuf::from(format!("{}.partial", rows.display()));
        let partial_rows = read_rows(&partial, &meta.header).map(|r| r.len()).unwrap_or(0);
        Ok(ShardFiles::Partial { have: have.max(partial_rows), want })
    }

    pub fn is_done(&self) -> bool {
        matches!(self, ShardFiles::Done { .. })
    }
}

impl fmt::Display for ShardFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShardFiles::Missing => write!(f, "not started"),
            ShardFiles::Partial { have, want } => write!(f, "{have} of {want} rows"),
            ShardFiles::Done { rows } => write!(f, "{rows} rows"),
        }
    }
}

/// The merged file's text and what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub text: String,
    pub rows: usize,
    pub shards: usize,
}

/// Joins the shards in `dir` into the text of the file a single run writes: the header, then every
/// shard's rows in the order its settings file lists its keys, shards in order. Refuses (naming the
/// shards and the fix) a missing or unfinished shard, shards with different settings or headers, and
/// rows a shard does not owe.
pub fn merge(dir: &ShardDir) -> Result<Merged, ShardError> {
    let count = dir.count()?.ok_or_else(|| ShardError::NoShards { dir: dir.dir.display().to_string() })?;
    let mut unfinished = vec![];
    let mut first: Option<(PathBuf, ShardMeta)> = None;
    let mut text = String::new();
    let mut rows = 0;
    for shard in Shard::all(count) {
        let meta_path = dir.meta(shard);
        if !meta_path.exists() {
            unfinished.push(format!("{shard} (never started: no {})", meta_path.display()));
            continue;
        }
        let meta = ShardMeta::read(&meta_path)?;
        match &first {
            None => {
                text = format!("{}\n", meta.header);
                first = Some((meta_path.clone(), meta.clone()));
            }
            Some((first_path, first_meta)) => same_job(dir, first_path, first_meta, &meta_path, &meta)?,
        }
        let path = dir.rows(shard);
        let mut by_key: BTreeMap<u64, String> = read_rows(&path, &meta.header)?.into_iter().collect();
        let missing = meta.keys.iter().filter(|k| !by_key.contains_key(k)).count();
        if missing > 0 {
            let have = meta.keys.len() - missing;
            unfinished.push(format!("{shard} ({have} of {} rows in {})", meta.keys.len(), path.display()));
            continue;
        }
        for k in &meta.keys {
            text.push_str(&by_key.remove(k).expect("checked above"));
            text.push('\n');
            rows += 1;
        }
        if let Some(extra) = by_key.keys().next() {
            return Err(ShardError::Row {
                file: path.display().to_string(),
                line: 0,
                why: format!("key {extra} is not one of this shard's keys; the file belongs to another job, delete it and rerun the shard"),
            });
        }
    }
    if !unfinished.is_empty() {
        return Err(ShardError::NotFinished {
            dir: dir.dir.display().to_string(),
            done: count - unfinished.len(),
            count,
            list: unfinished.join(", "),
        });
    }
    Ok(Merged { text, rows, shards: count })
}

fn same_job(
    dir: &ShardDir,
    first_path: &Path,
    first: &ShardMeta,
    path: &Path,
    meta: &ShardMeta,
) -> Result<(), ShardError> {
    let mut diff = vec![];
    if meta.header != first.header {
        diff.push(format!("header: '{}' vs '{}'", meta.header, first.header));
    }
    if meta.settings != first.settings {
        diff.push(describe_difference(&meta.settings, &first.settings));
    }
    if diff.is_empty() {
        return Ok(());
    }
    Err(ShardError::OtherSettings {
        file: path.display().to_string(),
        first: first_path.display().to_string(),
        diff: diff.join("; "),
        dir: dir.dir.display().to_string(),
    })
}

/// Merges the shards in `dir` and writes the result atomically to the merged file. A merged file that
/// exists with other content is replaced only with `force` (merging twice is harmless).
pub fn merge_into_file(dir: &ShardDir, force: bool) -> Result<Merged, ShardError> {
    let merged = merge(dir)?;
    let out = dir.merged();
    if !force && out.exists() {
        let old = std::fs::read(&out).map_err(io_err(&out))?;
        if old != merged.text.as_bytes() {
            return Err(ShardError::Exists { path: out.display().to_string() });
        }
    }
    write_atomic(&out, merged.text.as_bytes()).map_err(io_err(&out))?;
    Ok(merged)
}

/// Which settings differ between two shards, as `key: A vs B` (long text values: their first
/// differing line), so the message points at the cause instead of printing two JSON documents.
pub fn describe_difference(a: &serde_json::Value, b: &serde_json::Value) -> String {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return format!("{} vs {}", short(a), short(b));
    };
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let parts: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let (x, y) = (a.get(k).unwrap_or(&serde_json::Value::Null), b.get(k).unwrap_or(&serde_json::Value::Null));
            match (x.as_str(), y.as_str()) {
                (Some(x), Some(y)) if x.contains('\n') || y.contains('\n') => {
                    let (lx, ly) = x.lines().zip(y.lines()).find(|(p, q)| p != q).unwrap_or(("(end)", "(end)"));
                    format!("{k}: '{lx}' vs '{ly}'")
                }
                _ => format!("{k}: {} vs {}", short(x), short(y)),
            }
        })
        .collect();
    parts.join(", ")
}

fn short(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shard_specs_parse_and_refuse_with_the_reason() {
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(" 0 / 1 ".parse::<Shard>().unwrap().to_string(), "0/1");
        for (bad, why) in
            [("4/4", "below N"), ("1/0", "at least 1"), ("2", "no '/'"), ("a/3", "I is not"), ("1/-2", "N is not")]
        {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("--shard 0/4"), "{bad}: {err}");
        }
    }

    #[test]
    fn blocks_cover_the_list_once_in_order_and_balanced() {
        for len in [0, 1, 3, 7, 8, 100] {
            for count in [1, 2, 3, 4, 9] {
                let ranges: Vec<Range<usize>> = Shard::all(count).map(|s| s.range(len)).collect();
                let joined: Vec<usize> = ranges.iter().cloned().flatten().collect();
                assert_eq!(joined, (0..len).collect::<Vec<_>>(), "len {len}, {count} shards");
                let sizes: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
            }
        }
    }

    #[test]
    fn names_sort_in_shard_order() {
        let dir = ShardDir::for_output(Path::new("runs/gt.csv"));
        assert_eq!(dir.dir, Path::new("runs/gt.csv.shards"));
        assert_eq!(dir.merged(), Path::new("runs/gt.csv"));
        assert_eq!(dir.rows(Shard { index: 3, count: 12 }), Path::new("runs/gt.csv.shards/shard-03-of-12.csv"));
        assert_eq!(dir.meta(Shard { index: 0, count: 1 }), Path::new("runs/gt.csv.shards/shard-0-of-1.json"));
        assert_eq!(parse_meta_name("shard-03-of-12.json"), Some(12));
        assert_eq!(parse_meta_name("shard-03-of-12.csv"), None);
    }

    #[test]
    fn seed_lists() {
        assert_eq!("0..3".parse::<SeedList>().unwrap(), SeedList(vec![0, 1, 2]));
        assert_eq!("5, 1,9".parse::<SeedList>().unwrap(), SeedList(vec![5, 1, 9]));
        for (bad, why) in [("3..3", "no seed"), ("1,1", "twice"), ("x..2", "start"), ("1,,2", "'' is not")] {
            let err = bad.parse::<SeedList>().unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("0..8"), "{bad}: {err}");
        }
    }

    const HEADER: &str = "index,value";

    fn meta(shard: Shard, keys: &[u64], lr: f64) -> ShardMeta {
        ShardMeta {
            shard,
            header: HEADER.into(),
            keys: keys.to_vec(),
            settings: json!({ "lr": lr, "config": "a\nb\n" }),
        }
    }

    /// Runs an N-way job over `keys` (row for key k: "k,k*10"), each shard writing its rows in a
    /// scrambled order, and returns the single run's text.
    fn run_job(dir: &ShardDir, keys: &[u64], count: usize) -> String {
        let single: String = std::iter::once(HEADER.to_string())
            .chain(keys.iter().map(|k| format!("{k},{}", k * 10)))
            .map(|l| l + "\n")
            .collect();
        for shard in Shard::all(count) {
            let mine = &keys[shard.range(keys.len())];
            let done = meta(shard, mine, 0.1).begin(dir).unwrap();
            assert!(done.is_empty());
            for k in mine.iter().rev() {
                append_row(&dir.rows(shard), HEADER, &format!("{k},{}", k * 10)).unwrap();
            }
        }
        single
    }

    #[test]
    fn merging_gives_the_single_run_file_byte_for_byte() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ShardDir::for_output(&tmp.path().join("gt.csv"));
        let keys = [42, 7, 1835, 6111, 3, 9];
        let single = run_job(&dir, &keys, 4);
        let merged = merge_into_file(&dir, false).unwrap();
        assert_eq!((merged.rows, merged.shards), (6, 4));
        assert_eq!(std::fs::read_to_string(dir.merged()).unwrap(), single);
        // Merging again is harmless; a merged file with other content is kept unless forced.
        merge_into_file(&dir, false).unwrap();
        std::fs::write(dir.merged(), "index,value\n1,1\n").unwrap();
        let err = merge_into_file(&dir, false).unwrap_err().to_string();
        assert!(err.contains("--force"), "{err}");
        merge_into_file(&dir, true).unwrap();
        assert_eq!(std::fs::read_to_string(dir.merged()).unwrap(), single);
    }

    #[test]
    fn a_missing_or_unfinished_shard_is_named_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ShardDir::for_output(&tmp.path().join("gt.csv"));
        run_job(&dir, &[1, 2, 3, 4, 5, 6], 3);
        std::fs::remove_file(dir.meta(Shard { index: 1, count: 3 })).unwrap();
        // Shard 2 was killed after its first row.
        let last = Shard { index: 2, count: 3 };
        std::fs::write(dir.rows(last), "index,value\n6,60\n").unwrap();
        let err = merge(&dir).unwrap_err().to_string();
        assert!(err.contains("1 of 3 shards"), "{err}");
        assert!(err.contains("1/3 (never started") && err.contains("2/3 (1 of 2 rows"), "{err}");
        assert!(err.contains("oxnas jobs resubmit"), "{err}");
        assert_eq!(ShardFiles::inspect(&dir, last).unwrap(), ShardFiles::Partial { have: 1, want: 2 });
        assert_eq!(ShardFiles::inspect(&dir, Shard { index: 1, count: 3 }).unwrap(), ShardFiles::Missing);
        assert!(ShardFiles::inspect(&dir, Shard { index: 0, count: 3 }).unwrap().is_done());
        // The rerun skips the row it has: it owes exactly one more, so nothing is lost or duplicated.
        assert_eq!(meta(last, &[5, 6], 0.1).begin(&dir).unwrap(), BTreeSet::from([6]));
        assert!(!dir.merged().exists());
    }

    #[test]
    fn shards_of_another_job_are_refused_naming_the_setting() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ShardDir::for_output(&tmp.path().join("gt.csv"));
        run_job(&dir, &[1, 2, 3, 4], 2);
        let second = Shard { index: 1, count: 2 };
        let mut other = meta(second, &[3, 4], 0.2);
        other.settings["config"] = json!("a\nc\n");
        std::fs::write(dir.meta(second), serde_json::to_string(&other).unwrap()).unwrap();
        let err = merge(&dir).unwrap_err().to_string();
        assert!(err.contains("shard-1-of-2.json was written with other settings"), "{err}");
        assert!(err.contains("lr: 0.2 vs 0.1") && err.contains("config: 'c' vs 'b'"), "{err}");
        // Resuming a shard with other settings is refused before any work, too.
        let err = meta(second, &[3, 4], 0.1).begin(&dir).unwrap_err().to_string();
        assert!(err.contains("other settings") && err.contains("lr"), "{err}");
        // So is a split of another size in the same directory.
        let err = meta(Shard { index: 0, count: 3 }, &[1], 0.1).begin(&dir).unwrap_err().to_string();
        assert!(err.contains("2-way split") && err.contains("--shards 2"), "{err}");
    }

    #[test]
    fn rows_a_shard_does_not_owe_or_repeats_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ShardDir::for_output(&tmp.path().join("gt.csv"));
        run_job(&dir, &[1, 2], 1);
        let only = Shard { index: 0, count: 1 };
        append_row(&dir.rows(only), HEADER, "99,1").unwrap();
        let err = merge(&dir).unwrap_err().to_string();
        assert!(err.contains("key 99 is not one of this shard's keys"), "{err}");
        append_row(&dir.rows(only), HEADER, "99,1").unwrap();
        let err = merge(&dir).unwrap_err().to_string();
        assert!(err.contains("key 99 appears twice"), "{err}");
        std::fs::write(dir.rows(only), "idx,value\n1,1\n").unwrap();
        assert!(merge(&dir).unwrap_err().to_string().contains("has header 'idx,value'"));
    }

    #[test]
    fn finding_a_shards_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("gt.csv");
        assert_eq!(ShardDir::find(&out), None);
        let dir = ShardDir::for_output(&out);
        std::fs::create_dir_all(&dir.dir).unwrap();
        assert_eq!(ShardDir::find(&out), Some(dir.clone()));
        assert_eq!(ShardDir::find(&dir.dir), Some(dir));
        assert!(merge(&ShardDir::for_output(&out)).unwrap_err().to_string().contains("holds no shard files"));
    }
}
