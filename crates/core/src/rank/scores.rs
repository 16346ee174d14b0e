//! Supernet score tables, ground-truth sources, and joining the two by architecture.
//!
//! Architectures are keyed by their space's canonical string ([`RankSpace::canonical`]), so two
//! spellings of one architecture meet in a join. A score CSV has the header `arch_str,score,loss`
//! plus any number of extra numeric columns (e.g. `acc_top5`); spaces with a benchmark index
//! (NAS-Bench-201) also write an `index` column first. Reading is lenient about column order, accepts
//! `arch` for `arch_str`, and, in indexed spaces, either key alone. A field that holds a comma (a DARTS
//! genotype, a ProxylessNAS subnet) is quoted as CSV quotes it.
//!
//! Ground truth is a column of the embedded NAS-Bench-201 table ([`TruthSource::Column`]) or a user
//! CSV with rows `arch_str,accuracy` (or `index,accuracy` in indexed spaces), header optional.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{check_finite, RankError};
use crate::bench::{Column, Nb201Table};
use crate::oneshot::RankSpace;

pub const BASE_COLUMNS: [&str; 4] = ["index", "arch_str", "score", "loss"];
/// Accepted on reading as a synonym of `arch_str`, the name some tools use.
const ARCH_ALIAS: &str = "arch";

/// One evaluated architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// The canonical string of the architecture in its space.
    pub arch: String,
    /// The benchmark index of `arch`, in spaces that have one (NAS-Bench-201).
    pub index: Option<usize>,
    /// The supernet's figure of merit for this architecture (e.g. validation accuracy with inherited
    /// weights); which direction is better is the caller's choice, see [`super::Better`].
    pub score: f64,
    pub loss: Option<f64>,
    /// Further per-architecture figures, written as extra CSV columns in name order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl ScoreRow {
    /// A row for a canonical architecture string of `space`.
    pub fn new(space: &dyn RankSpace, arch: &str, score: f64) -> Self {
        ScoreRow { arch: arch.to_string(), index: space.index(arch), score, loss: None, extra: BTreeMap::new() }
    }
}

/// The scores of a set of architectures, in evaluation order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArchScores {
    pub rows: Vec<ScoreRow>,
}

struct Line {
    number: usize,
    fields: Vec<String>,
}

/// Non-blank lines split into CSV fields (quotes honoured, fields trimmed), with 1-based line numbers
/// as an editor shows them. Architecture strings never span lines, so a record is a line.
fn csv_lines(text: &str) -> impl Iterator<Item = Line> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Line { number: i + 1, fields: split_fields(l) })
}

pub(crate) fn split_fields(line: &str) -> Vec<String> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).trim(csv::Trim::All).flexible(true).from_reader(line.as_bytes());
    match reader.records().next() {
        Some(Ok(record)) => record.iter().map(str::to_string).collect(),
        // An unbalanced quote: keep the raw comma split, so the field count or value check names the line.
        _ => line.split(',').map(|f| f.trim().to_string()).collect(),
    }
}

/// A field as CSV writes it: quoted when it holds a comma, a quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn read_text(path: &Path) -> Result<String, RankError> {
    std::fs::read_to_string(path).map_err(|source| RankError::Read { path: path.to_path_buf(), source })
}

fn parse_number(file: &str, line: usize, column: &str, text: &str, finite: bool) -> Result<f64, RankError> {
    let err = |reason: &str| RankError::CsvNumber {
        file: file.to_string(),
        line,
        column: column.to_string(),
        text: text.to_string(),
        reason: reason.to_string(),
    };
    let v: f64 = text.parse().map_err(|_| err(""))?;
    if finite && !v.is_finite() {
        return Err(err(" that can be ranked; NaN and infinite values are not allowed here"));
    }
    Ok(v)
}

/// The architecture a row names through an index column, an arch column or both (which must agree),
/// as (canonical string, index).
fn resolve_key(
    space: &dyn RankSpace,
    file: &str,
    line: usize,
    index_text: Option<&str>,
    arch_text: Option<&str>,
) -> Result<(String, Option<usize>), RankError> {
    let by_index =
        index_text
            .map(|t| {
                t.parse::<usize>().ok().and_then(|i| space.arch_at(i).map(|a| (i, a))).ok_or_else(|| {
                    RankError::CsvIndex { file: file.to_string(), line, text: t.to_string(), space: space.name() }
                })
            })
            .transpose()?;
    let arch = arch_text
        .map(|t| {
            space.canonical(t).map_err(|e| RankError::CsvArch {
                file: file.to_string(),
                line,
                text: t.to_string(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    match (by_index, arch) {
        (Some((i, _)), Some(a)) if space.index(&a) != Some(i) => Err(RankError::CsvIndexArchMismatch {
            file: file.to_string(),
            line,
            index: i,
            arch_index: space.index(&a).map_or_else(|| "none".to_string(), |x| x.to_string()),
            arch: a,
        }),
        (_, Some(a)) => Ok((a.clone(), space.index(&a))),
        (Some((i, a)), None) => Ok((a, Some(i))),
        // The header checks rule this out; an error rather than a panic keeps that assumption cheap.
        (None, None) => Err(RankError::CsvHeader {
            file: file.to_string(),
            line,
            detail: "neither an `index` nor an `arch_str` column".to_string(),
        }),
    }
}

fn check_field_count(file: &str, line: &Line, expected: usize) -> Result<(), RankError> {
    if line.fields.len() != expected {
        return Err(RankError::CsvFieldCount {
            file: file.to_string(),
            line: line.number,
            found: line.fields.len(),
            expected,
        });
    }
    Ok(())
}

fn check_duplicate(file: &str, seen: &mut HashMap<String, usize>, arch: &str, line: usize) -> Result<(), RankError> {
    if let Some(&first_line) = seen.get(arch) {
        return Err(RankError::CsvDuplicate { file: file.to_string(), line, arch: arch.to_string(), first_line });
    }
    seen.insert(arch.to_string(), line);
    Ok(())
}

impl ArchScores {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a row with no loss or extras and returns it for filling those in.
    pub fn push(&mut self, space: &dyn RankSpace, arch: &str, score: f64) -> &mut ScoreRow {
        self.rows.push(ScoreRow::new(space, arch, score));
        let last = self.rows.len() - 1;
        &mut self.rows[last]
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Names of the extra columns over all rows, in the order they are written.
    pub fn extra_columns(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self.rows.iter().flat_map(|r| r.extra.keys()).collect();
        names.into_iter().cloned().collect()
    }

    /// The CSV text: `[index,]arch_str,score,loss[,extra...]` (`index` when every row has one); an
    /// absent loss or extra is an empty field. Numbers print in Rust's shortest round-trip form, so
    /// reading the file back is exact.
    pub fn to_csv_string(&self) -> Result<String, RankError> {
        let extras = self.extra_columns();
        for name in &extras {
            let reason = if name.is_empty() {
                Some("it is empty")
            } else if name.contains([',', '\n', '\r']) {
                Some("it contains a comma or a line break")
            } else if name.trim() != name {
                Some("it has leading or trailing spaces, which reading would strip")
            } else if BASE_COLUMNS.contains(&name.as_str()) || name == ARCH_ALIAS {
                Some("it is the name of a standard column")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RankError::BadExtraName { name: name.clone(), reason });
            }
        }
        let indexed = self.rows.iter().all(|r| r.index.is_some());
        let mut out = BASE_COLUMNS[usize::from(!indexed)..].join(",");
        for name in &extras {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for row in &self.rows {
            if let (true, Some(i)) = (indexed, row.index) {
                out.push_str(&format!("{i},"));
            }
            out.push_str(&format!("{},{},", csv_field(&row.arch), row.score));
            if let Some(loss) = row.loss {
                out.push_str(&loss.to_string());
            }
            for name in &extras {
                out.push(',');
                if let Some(v) = row.extra.get(name) {
                    out.push_str(&v.to_string());
                }
            }
            out.push('\n');
        }
        Ok(out)
    }

    /// Writes the CSV atomically: an interrupted evaluation never leaves a half-written table.
    pub fn write_csv(&self, path: &Path) -> Result<(), RankError> {
        let text = self.to_csv_string()?;
        crate::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|source| RankError::Write { path: path.to_path_buf(), source })
    }

    pub fn read_csv(path: &Path, space: &dyn RankSpace) -> Result<Self, RankError> {
        Self::from_csv_str(&read_text(path)?, &path.display().to_string(), space)
    }

    /// Parses score CSV text of architectures of `space`; `file` names the source in error messages.
    pub fn from_csv_str(text: &str, file: &str, space: &dyn RankSpace) -> Result<Self, RankError> {
        let mut lines = csv_lines(text);
        let header = lines.next().ok_or_else(|| RankError::CsvEmpty { file: file.to_string() })?;
        let header_err = |detail: String| RankError::CsvHeader { file: file.to_string(), line: header.number, detail };
        let (mut index_col, mut arch_col, mut score_col, mut loss_col) = (None, None, None, None);
        let mut extra_cols = Vec::new();
        for (pos, name) in header.fields.iter().map(String::as_str).enumerate() {
            if header.fields[..pos].iter().any(|f| f == name) {
                return Err(header_err(format!("column `{name}` appears twice")));
            }
            if name.is_empty() {
                return Err(header_err(format!("column {} has no name", pos + 1)));
            }
            let slot = match name {
                "index" => &mut index_col,
                "arch_str" | ARCH_ALIAS => &mut arch_col,
                "score" => &mut score_col,
                "loss" => &mut loss_col,
                _ => {
                    extra_cols.push((pos, name));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(header_err("both `arch_str` and `arch` are present; keep one".to_string()));
            }
            *slot = Some(pos);
        }
        let Some(score_col) = score_col else {
            return Err(header_err(format!(
                "no `score` column in `{}`; expected `index,arch_str,score,loss`",
                header.fields.join(",")
            )));
        };
        if index_col.is_none() && arch_col.is_none() {
            return Err(header_err(format!(
                "no `index` or `arch_str` column in `{}`; expected `index,arch_str,score,loss`",
                header.fields.join(",")
            )));
        }
        let width = header.fields.len();
        let mut rows = Vec::new();
        let mut seen = HashMap::new();
        for line in lines {
            check_field_count(file, &line, width)?;
            let n = line.number;
            let field = |c: usize| line.fields[c].as_str();
            let (arch, index) = resolve_key(space, file, n, index_col.map(field), arch_col.map(field))?;
            check_duplicate(file, &mut seen, &arch, n)?;
            let score = parse_number(file, n, "score", field(score_col), true)?;
            let loss = match loss_col.map(field) {
                None | Some("") => None,
                Some(t) => Some(parse_number(file, n, "loss", t, false)?),
            };
            let mut extra = BTreeMap::new();
            for &(c, name) in &extra_cols {
                let t = field(c);
                if !t.is_empty() {
                    extra.insert(name.to_string(), parse_number(file, n, name, t, false)?);
                }
            }
            rows.push(ScoreRow { arch, index, score, loss, extra });
        }
        if rows.is_empty() {
            return Err(RankError::CsvNoRows { file: file.to_string() });
        }
        Ok(ArchScores { rows })
    }
}

/// Ground-truth accuracy for some or all architectures of a space, looked up by canonical string.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    name: String,
    values: BTreeMap<String, f64>,
}

impl GroundTruth {
    /// One accuracy column of the embedded NAS-Bench-201 table; covers all 15,625 cells.
    pub fn from_column(column: Column) -> Self {
        let table = Nb201Table::embedded();
        let values = table.rows().map(|r| (r.arch().to_string(), r.value(column))).collect();
        GroundTruth { name: column.name().to_string(), values }
    }

    /// From `(canonical architecture, value)` pairs, e.g. accuracies the caller trained itself. Later
    /// pairs for the same architecture replace earlier ones.
    pub fn from_pairs(name: &str, pairs: impl IntoIterator<Item = (String, f64)>) -> Self {
        GroundTruth { name: name.to_string(), values: pairs.into_iter().collect() }
    }

    pub fn read_csv(path: &Path, space: &dyn RankSpace) -> Result<Self, RankError> {
        Self::from_csv_str(&read_text(path)?, &path.display().to_string(), space)
    }

    /// Parses `arch_str,accuracy` or `index,accuracy` rows (a third column is allowed when both
    /// `index` and `arch_str` are given, and they must agree). A first line whose value field is a
    /// number is data, not a header; a headerless key is an index if it is all digits, else an arch.
    pub fn from_csv_str(text: &str, file: &str, space: &dyn RankSpace) -> Result<Self, RankError> {
        let mut lines = csv_lines(text).peekable();
        let first = lines.peek().ok_or_else(|| RankError::CsvEmpty { file: file.to_string() })?;
        let has_header = first.fields.len() < 2 || first.fields.last().is_none_or(|t| t.parse::<f64>().is_err());
        let (index_col, arch_col, value_col, width, value_name) = if has_header {
            let header = lines.next().ok_or_else(|| RankError::CsvEmpty { file: file.to_string() })?;
            let (i, a, v, name) = truth_header(file, &header, space.metric().truth_column)?;
            (i, a, v, header.fields.len(), name)
        } else {
            (None, None, 1, 2, space.metric().truth_column.to_string())
        };
        let mut values = BTreeMap::new();
        let mut seen = HashMap::new();
        for line in lines {
            check_field_count(file, &line, width)?;
            let n = line.number;
            let field = |c: usize| line.fields[c].as_str();
            let (arch, _) = if has_header {
                resolve_key(space, file, n, index_col.map(field), arch_col.map(field))?
            } else {
                let key = field(0);
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) && space.arch_at(0).is_some() {
                    resolve_key(space, file, n, Some(key), None)?
                } else {
                    resolve_key(space, file, n, None, Some(key))?
                }
            };
            check_duplicate(file, &mut seen, &arch, n)?;
            values.insert(arch, parse_number(file, n, &value_name, field(value_col), true)?);
        }
        if seen.is_empty() {
            return Err(RankError::CsvNoRows { file: file.to_string() });
        }
        Ok(GroundTruth { name: format!("{file}:{value_name}"), values })
    }

    /// The column name, or `file:column` for a CSV.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn get(&self, arch: &str) -> Option<f64> {
        self.values.get(arch).copied()
    }

    /// Number of architectures with a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `(architecture, value)` for every architecture with a value, by canonical string.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> + '_ {
        self.values.iter().map(|(a, &v)| (a.as_str(), v))
    }
}

/// The key and value columns of a truth CSV header, and the value column's name; among several
/// value columns, `wanted` (the space's ground-truth column: `accuracy`, `test_ppl`) is the truth.
fn truth_header(
    file: &str,
    header: &Line,
    wanted: &str,
) -> Result<(Option<usize>, Option<usize>, usize, String), RankError> {
    let header_err = |detail: String| RankError::CsvHeader { file: file.to_string(), line: header.number, detail };
    let (mut index_col, mut arch_col) = (None, None);
    let mut values: Vec<usize> = vec![];
    for (pos, name) in header.fields.iter().enumerate() {
        let slot = match name.as_str() {
            "index" => &mut index_col,
            "arch_str" | ARCH_ALIAS => &mut arch_col,
            _ => {
                values.push(pos);
                continue;
            }
        };
        if slot.is_some() {
            return Err(header_err(format!(
                "`{}` has more than one key column; expected `arch_str,{wanted}` or `index,{wanted}`",
                header.fields.join(",")
            )));
        }
        *slot = Some(pos);
    }
    // Several value columns (oxnas groundtruth writes accuracy, top5, params, ...): the one the
    // space names is the ground truth; otherwise the choice would be a guess.
    let value_col = match values.as_slice() {
        [] => None,
        [one] => Some(*one),
        many => match many.iter().find(|&&p| header.fields[p] == wanted) {
            Some(&p) => Some(p),
            None => {
                return Err(header_err(format!(
                    "`{}` has several value columns and none is named `{wanted}`; keep one, or name the ground truth `{wanted}`",
                    header.fields.join(",")
                )))
            }
        },
    };
    let Some(value_col) = value_col else {
        return Err(header_err(format!(
            "`{}` has no {wanted} column; expected `arch_str,{wanted}` or `index,{wanted}`",
            header.fields.join(",")
        )));
    };
    if index_col.is_none() && arch_col.is_none() {
        return Err(header_err(format!(
            "`{}` has no `index` or `arch_str` column; expected `arch_str,{wanted}` or `index,{wanted}`",
            header.fields.join(",")
        )));
    }
    Ok((index_col, arch_col, value_col, header.fields[value_col].clone()))
}

/// Where ground truth comes from, as a user names it on a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthSource {
    Column(Column),
    Csv(PathBuf),
    /// An NDS model file (`nds:PATH`), for the DARTS space; see [`super::nds`].
    Nds(PathBuf),
    /// A NAS-Bench-101 table (`nb101:TABLE[@EPOCHS]`); see [`super::nb101_truth`].
    Nb101(super::Nb101TruthSpec),
}

impl TruthSource {
    /// The ground truth for architectures of `space`; a table column is NAS-Bench-201's own.
    pub fn load(&self, space: &dyn RankSpace) -> Result<GroundTruth, RankError> {
        self.load_noted(space).map(|(truth, _)| truth)
    }

    /// [`TruthSource::load`], with what a user should be told about the reading: for an NDS file,
    /// how many records were kept, skipped (and why) and averaged.
    pub fn load_noted(&self, space: &dyn RankSpace) -> Result<(GroundTruth, Option<String>), RankError> {
        match self {
            TruthSource::Column(_) if space.name() != "nb201" => {
                Err(RankError::TruthSpace { truth: self.to_string(), space: space.name() })
            }
            TruthSource::Column(c) => Ok((GroundTruth::from_column(*c), None)),
            TruthSource::Csv(p) => Ok((GroundTruth::read_csv(p, space)?, None)),
            TruthSource::Nds(_) if space.name() != "darts" => {
                Err(RankError::NdsSpace { truth: self.to_string(), space: space.name() })
            }
            TruthSource::Nds(p) => {
                let nds = super::nds::NdsTruth::read(p, space)?;
                Ok((nds.ground_truth(), Some(nds.to_string())))
            }
            TruthSource::Nb101(spec) => Err(super::Nb101TruthError::NeedsCells { spec: spec.to_string() }.into()),
        }
    }

    /// [`TruthSource::load_noted`] for the architectures of a score table: sources that answer per
    /// architecture (a NAS-Bench-101 table) look up only those.
    pub fn load_for(
        &self,
        space: &dyn RankSpace,
        scores: &ArchScores,
    ) -> Result<(GroundTruth, Option<String>), RankError> {
        let TruthSource::Nb101(spec) = self else { return self.load_noted(space) };
        if space.name() != "nb101" {
            return Err(RankError::Nb101Space { truth: self.to_string(), space: space.name() });
        }
        let (truth, note) =
            spec.lookup(&crate::oneshot::Nb101RankSpace::default(), scores.rows.iter().map(|r| r.arch.as_str()))?;
        Ok((truth, Some(note)))
    }
}

impl FromStr for TruthSource {
    type Err = RankError;

    /// A table column name, else a path; only something that looks like a path (a separator or a
    /// `.csv` ending) is taken as one, so that a mistyped column name gets the list of columns.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(path) = s.strip_prefix("nds:") {
            return Ok(TruthSource::Nds(PathBuf::from(path)));
        }
        if let Some(spec) = s.strip_prefix("nb101:") {
            return Ok(TruthSource::Nb101(super::Nb101TruthSpec::parse(spec)));
        }
        if let Ok(c) = s.parse::<Column>() {
            return Ok(TruthSource::Column(c));
        }
        if s.contains(std::path::MAIN_SEPARATOR) || s.contains('/') || s.to_ascii_lowercase().ends_with(".csv") {
            return Ok(TruthSource::Csv(PathBuf::from(s)));
        }
        Err(RankError::UnknownTruth { name: s.to_string(), columns: Column::ALL.map(Column::name).join(", ") })
    }
}

impl fmt::Display for TruthSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TruthSource::Column(c) => write!(f, "{c}"),
            TruthSource::Csv(p) => write!(f, "{}", p.display()),
            TruthSource::Nds(p) => write!(f, "nds:{}", p.display()),
            TruthSource::Nb101(spec) => write!(f, "{spec}"),
        }
    }
}

/// A scored architecture together with its ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinedRow {
    pub arch: String,
    pub index: Option<usize>,
    pub score: f64,
    pub truth: f64,
}

/// The result of [`join`]: the matched rows in score-table order, and what could not be matched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Joined {
    pub truth_name: String,
    pub rows: Vec<JoinedRow>,
    /// Number of rows in the score table.
    pub scored: usize,
    /// Scored architectures without a ground-truth value.
    pub missing: Vec<String>,
}

impl Joined {
    pub fn matched(&self) -> usize {
        self.rows.len()
    }

    pub fn scores(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.score).collect()
    }

    pub fn truths(&self) -> Vec<f64> {
        self.rows.iter().map(|r| r.truth).collect()
    }
}

impl fmt::Display for Joined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "matched {} of {} scored architectures with ground truth `{}`",
            self.matched(),
            self.scored,
            self.truth_name
        )?;
        if !self.missing.is_empty() {
            const SHOWN: usize = 3;
            let list: Vec<&str> = self.missing.iter().take(SHOWN).map(String::as_str).collect();
            write!(f, "; {} without ground truth ({}", self.missing.len(), list.join(" "))?;
            if self.missing.len() > SHOWN {
                write!(f, " and {} more", self.missing.len() - SHOWN)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Pairs every score with its ground truth by architecture. Fails on a score table that names an
/// architecture twice or holds a NaN or infinite score; scored architectures without ground truth
/// are listed in [`Joined::missing`].
pub fn join(scores: &ArchScores, truth: &GroundTruth) -> Result<Joined, RankError> {
    check_finite("scores", &scores.rows.iter().map(|r| r.score).collect::<Vec<_>>())?;
    let mut first_row: HashMap<&str, usize> = HashMap::new();
    let mut rows = Vec::with_capacity(scores.len());
    let mut missing = Vec::new();
    for (pos, r) in scores.rows.iter().enumerate() {
        if let Some(&first) = first_row.get(r.arch.as_str()) {
            return Err(RankError::DuplicateArch { arch: r.arch.clone(), first, second: pos });
        }
        first_row.insert(&r.arch, pos);
        match truth.get(&r.arch) {
            Some(t) => rows.push(JoinedRow { arch: r.arch.clone(), index: r.index, score: r.score, truth: t }),
            None => missing.push(r.arch.clone()),
        }
    }
    if rows.is_empty() && !scores.rows.is_empty() {
        return Err(RankError::NoOverlap { scored: scores.len(), truth: truth.name().to_string() });
    }
    Ok(Joined { truth_name: truth.name().to_string(), rows, scored: scores.len(), missing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb201::{Nb201Arch, NUM_ARCHS};
    use crate::oneshot::Nb201RankSpace;

    fn nb201() -> Nb201RankSpace {
        Nb201RankSpace::default()
    }

    fn scores(text: &str, file: &str) -> Result<ArchScores, RankError> {
        ArchScores::from_csv_str(text, file, &nb201())
    }

    fn truth(text: &str, file: &str) -> Result<GroundTruth, RankError> {
        GroundTruth::from_csv_str(text, file, &nb201())
    }

    const BEST_C100: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    const ALL_SKIP: &str =
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";

    fn idx(s: &str) -> String {
        Nb201Arch::from_index(s.parse().unwrap()).unwrap().to_string()
    }

    #[test]
    fn a_truth_sharing_no_rows_with_the_scores_says_so() {
        let scores = scores(&format!("index,arch_str,score,loss\n1835,{ALL_SKIP},0.5,\n"), "s.csv").unwrap();
        let truth = truth(&format!("arch_str,accuracy\n{BEST_C100},90\n"), "t.csv").unwrap();
        let e = join(&scores, &truth).unwrap_err().to_string();
        assert!(e.contains("share no rows") && e.contains("t.csv"), "{e}");
    }

    #[test]
    fn csv_round_trip_with_loss_and_extras() {
        let mut s = ArchScores::new();
        let r = s.push(&nb201(), BEST_C100, 71.25);
        r.loss = Some(1.0 / 3.0);
        r.extra.insert("top5".into(), 92.5);
        s.push(&nb201(), ALL_SKIP, 0.1 + 0.2).extra.insert("bn_steps".into(), 20.0);
        let text = s.to_csv_string().unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("index,arch_str,score,loss,bn_steps,top5"));
        // Index 9930 and 1835 come from the data README.
        assert_eq!(lines.next().unwrap(), format!("9930,{BEST_C100},71.25,0.3333333333333333,,92.5"));
        assert_eq!(lines.next().unwrap(), format!("1835,{ALL_SKIP},0.30000000000000004,,20,"));
        assert_eq!(scores(&text, "t").unwrap(), s);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        s.write_csv(&path).unwrap();
        assert_eq!(ArchScores::read_csv(&path, &nb201()).unwrap(), s);
    }

    #[test]
    fn csv_reading_is_lenient_about_columns() {
        // Reordered columns, `arch` alias, no loss column, CRLF endings, blank lines.
        let text = format!("score,arch\r\n\r\n0.5,{BEST_C100}\r\n0.25,{ALL_SKIP}\r\n");
        let s = scores(&text, "t").unwrap();
        assert_eq!(s.rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![Some(9930), Some(1835)]);
        assert_eq!(s.rows[1].loss, None);
        // Index only.
        let s = scores("index,score\n1835,3\n", "t").unwrap();
        assert_eq!(s.rows[0].arch, ALL_SKIP);
    }

    #[test]
    fn csv_errors_carry_line_numbers() {
        let bad_op = "index,arch_str,score,loss\n\n1,|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,\n";
        let e = scores(bad_op, "s.csv").unwrap_err();
        assert!(matches!(e, RankError::CsvArch { line: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("s.csv: line 3: unknown architecture"), "{e}");
        assert!(e.to_string().contains("is not a nb201 architecture"), "{e}");

        let mismatch = format!("index,arch_str,score\n5,{BEST_C100},1\n");
        let e = scores(&mismatch, "s").unwrap_err();
        assert!(
            matches!(e, RankError::CsvIndexArchMismatch { line: 2, index: 5, ref arch_index, .. } if arch_index == "9930"),
            "{e}"
        );

        let dup = format!("arch_str,score\n{BEST_C100},1\n{ALL_SKIP},2\n{BEST_C100},3\n");
        let e = scores(&dup, "s").unwrap_err();
        assert!(
            matches!(e, RankError::CsvDuplicate { line: 4, first_line: 2, ref arch, .. } if arch == BEST_C100),
            "{e}"
        );

        let nan = format!("arch_str,score\n{BEST_C100},nan\n");
        let e = scores(&nan, "s").unwrap_err();
        assert!(matches!(e, RankError::CsvNumber { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("NaN"), "{e}");

        let e = scores("index,score\n15625,1\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvIndex { line: 2, .. }), "{e}");
        let e = scores("index,score,loss\n1,2\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvFieldCount { line: 2, found: 2, expected: 3, .. }), "{e}");
        let e = scores("index,arch_str,loss\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvHeader { line: 1, .. }) && e.to_string().contains("score"), "{e}");
        let e = scores("score,loss\n1,2\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvHeader { .. }), "{e}");
        let e = scores("index,score,x,x\n", "s").unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
        assert!(matches!(scores("\n\n", "s"), Err(RankError::CsvEmpty { .. })));
        assert!(matches!(scores("index,score\n", "s"), Err(RankError::CsvNoRows { .. })));
        let e = scores("index,score,top5\n1,2,high\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvNumber { line: 2, ref column, .. } if column == "top5"), "{e}");
    }

    #[test]
    fn bad_extra_names_are_refused_on_write() {
        let mut s = ArchScores::new();
        s.push(&nb201(), BEST_C100, 1.0).extra.insert("a,b".into(), 1.0);
        assert!(matches!(s.to_csv_string(), Err(RankError::BadExtraName { .. })));
        let mut s = ArchScores::new();
        s.push(&nb201(), BEST_C100, 1.0).extra.insert("score".into(), 1.0);
        assert!(matches!(s.to_csv_string(), Err(RankError::BadExtraName { .. })));
    }

    #[test]
    fn truth_csv_forms() {
        let with_arch = format!("arch_str,acc\n{BEST_C100},73.5\n{ALL_SKIP},15.6\n");
        let t = truth(&with_arch, "t.csv").unwrap();
        assert_eq!((t.get(BEST_C100), t.get(ALL_SKIP), t.get(&idx("0")), t.len()), (Some(73.5), Some(15.6), None, 2));
        assert_eq!(t.name(), "t.csv:acc");

        let with_index = "index,accuracy\n9930,73.5\n";
        assert_eq!(truth(with_index, "t").unwrap().get(BEST_C100), Some(73.5));

        // No header: the first line's value is a number; keys may mix indices and arch strings.
        let headerless = format!("9930,73.5\n{ALL_SKIP},15.6\n");
        let t = truth(&headerless, "t").unwrap();
        assert_eq!((t.get(BEST_C100), t.get(ALL_SKIP)), (Some(73.5), Some(15.6)));

        let both = format!("index,arch_str,acc\n9930,{BEST_C100},1\n");
        assert_eq!(truth(&both, "t").unwrap().get(BEST_C100), Some(1.0));
    }

    #[test]
    fn truth_csv_errors() {
        let unknown = "arch_str,acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n|x~0|,2\n";
        let e = truth(unknown, "gt.csv").unwrap_err();
        assert!(matches!(e, RankError::CsvArch { line: 3, ref text, .. } if text == "|x~0|"), "{e}");
        assert!(e.to_string().contains("gt.csv: line 3"), "{e}");
        let e = truth("9930,73.5\nbanana,1\n", "t").unwrap_err();
        assert!(matches!(e, RankError::CsvArch { line: 2, .. }), "{e}");
        let e = truth("index,acc\n1,NaN\n", "t").unwrap_err();
        assert!(matches!(e, RankError::CsvNumber { line: 2, .. }), "{e}");
        let e = truth("index,acc,other\n1,2,3\n", "t").unwrap_err();
        assert!(e.to_string().contains("several value columns"), "{e}");
        let e = truth("foo,acc\n1,2\n", "t").unwrap_err();
        assert!(e.to_string().contains("several value columns"), "{e}");
        // oxnas groundtruth's own CSV: the `accuracy` column is the ground truth.
        let g = truth("index,arch_str,accuracy,top5,params,epochs,seconds\n1835,|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|,61.5,90.0,1000,3,2.5\n", "gt.csv").unwrap();
        assert_eq!(g.get(ALL_SKIP), Some(61.5));
        // The recurrent space's rows: `test_ppl` is its ground truth; an accuracy column is not.
        let rnn = crate::oneshot::DartsRnnRankSpace::default();
        let g = GroundTruth::from_csv_str(
            "key,arch_str,test_ppl,valid_ppl,params,epochs\n7,DARTS_V2,104.5,99.9,126806,3\n",
            "gt.csv",
            &rnn,
        )
        .unwrap();
        assert_eq!((g.name(), g.get(&rnn.canonical("DARTS_V2").unwrap())), ("gt.csv:test_ppl", Some(104.5)));
        let e = GroundTruth::from_csv_str("arch_str,accuracy,top5\nDARTS_V2,1,2\n", "t", &rnn).unwrap_err();
        assert!(e.to_string().contains("none is named `test_ppl`"), "{e}");
        let e = truth("index,acc\n1,2\n1,3\n", "t").unwrap_err();
        assert!(matches!(e, RankError::CsvDuplicate { line: 3, first_line: 2, .. }), "{e}");
        assert!(matches!(truth("index,acc\n", "t"), Err(RankError::CsvNoRows { .. })));
    }

    #[test]
    fn quoted_architectures_round_trip() {
        // A space whose canonical strings hold commas and quotes (as DARTS genotypes do): written quoted,
        // read back equal.
        struct Commas;
        impl RankSpace for Commas {
            fn name(&self) -> &'static str {
                "commas"
            }
            fn canonical(&self, t: &str) -> Result<String, crate::oneshot::ArchError> {
                Ok(t.to_string())
            }
            fn sample(&self, _: &mut rand_chacha::ChaCha8Rng) -> String {
                "a,b".into()
            }
            fn features(&self) -> &'static [crate::oneshot::Feature] {
                &[]
            }
            fn feature_values(&self, _: &str) -> Result<Vec<f64>, crate::oneshot::ArchError> {
                Ok(vec![])
            }
            fn params_note(&self) -> String {
                String::new()
            }
        }
        let mut s = ArchScores::new();
        s.push(&Commas, "G(normal=[('a', 0), ('b', 1)])", 1.5);
        s.push(&Commas, "say \"hi\"", 2.0);
        let text = s.to_csv_string().unwrap();
        assert_eq!(text, "arch_str,score,loss\n\"G(normal=[('a', 0), ('b', 1)])\",1.5,\n\"say \"\"hi\"\"\",2,\n");
        assert_eq!(ArchScores::from_csv_str(&text, "t", &Commas).unwrap(), s);
        // A table column belongs to NAS-Bench-201 only.
        let e = TruthSource::Column(Column::Cifar10Test200ep).load(&Commas).unwrap_err().to_string();
        assert!(e.contains("commas space") && e.contains("arch_str,accuracy"), "{e}");
    }

    #[test]
    fn truth_source_parsing() {
        assert_eq!(
            "cifar100_test_200ep".parse::<TruthSource>().unwrap(),
            TruthSource::Column(Column::Cifar100Test200ep)
        );
        assert_eq!("runs/gt.csv".parse::<TruthSource>().unwrap(), TruthSource::Csv("runs/gt.csv".into()));
        let nds = "nds:data/DARTS.json".parse::<TruthSource>().unwrap();
        assert_eq!(nds, TruthSource::Nds("data/DARTS.json".into()));
        assert_eq!(nds.to_string(), "nds:data/DARTS.json");
        let e = nds.load(&nb201()).unwrap_err().to_string();
        assert!(e.contains("nds:data/DARTS.json") && e.contains("nb201"), "{e}");
        let e = "cifar10".parse::<TruthSource>().unwrap_err();
        assert!(e.to_string().contains("cifar10_test_200ep"), "{e}");
        let gt = TruthSource::Column(Column::Cifar10Test200ep).load(&nb201()).unwrap();
        assert_eq!(gt.len(), NUM_ARCHS);
        // README: the all-skip cell (1835) scores 54.2967 on CIFAR-10 test.
        assert!((gt.get(ALL_SKIP).unwrap() - 54.296667).abs() < 1e-3, "{:?}", gt.get(ALL_SKIP));
        let e = TruthSource::Csv("/nonexistent/gt.csv".into()).load(&nb201()).unwrap_err();
        assert!(matches!(e, RankError::Read { .. }) && e.to_string().contains("/nonexistent/gt.csv"), "{e}");
    }

    #[test]
    fn join_reports_matched_and_missing() {
        let mut s = ArchScores::new();
        s.push(&nb201(), BEST_C100, 0.9);
        s.push(&nb201(), ALL_SKIP, 0.8);
        s.push(&nb201(), &idx("7"), 0.1);
        let gt = GroundTruth::from_pairs("gt", [(idx("9930"), 73.5), (idx("7"), 10.0), (idx("42"), 50.0)]);
        let j = join(&s, &gt).unwrap();
        assert_eq!(j.matched(), 2);
        assert_eq!(j.missing, vec![ALL_SKIP.to_string()]);
        assert_eq!(j.scores(), vec![0.9, 0.1]);
        assert_eq!(j.truths(), vec![73.5, 10.0]);
        assert_eq!(
            j.to_string(),
            format!("matched 2 of 3 scored architectures with ground truth `gt`; 1 without ground truth ({ALL_SKIP})")
        );

        let mut dup = s.clone();
        dup.push(&nb201(), ALL_SKIP, 0.0);
        assert!(matches!(join(&dup, &gt), Err(RankError::DuplicateArch { first: 1, second: 3, .. })));
        let mut nan = s.clone();
        nan.rows[2].score = f64::NAN;
        assert!(matches!(join(&nan, &gt), Err(RankError::NaN { which: "scores", index: 2 })));
    }
}
