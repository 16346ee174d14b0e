//! Supernet score tables, ground-truth sources, and joining the two by NAS-Bench-201 index.
//!
//! A score CSV has the header `index,arch_str,score,loss` plus any number of extra numeric columns
//! (e.g. `acc_top5`, `bn_recalibrated`). Reading is lenient about column order and accepts either
//! `index` or `arch_str` alone; writing always emits the full header so that a file round-trips.
//!
//! Ground truth is a column of the embedded NAS-Bench-201 table ([`TruthSource::Column`]) or a user
//! CSV with rows `arch_str,accuracy` or `index,accuracy` ([`TruthSource::Csv`]), header optional.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{check_finite, RankError};
use crate::bench::{Column, Nb201Table};
use crate::nb201::{Nb201Arch, NUM_ARCHS};

pub const BASE_COLUMNS: [&str; 4] = ["index", "arch_str", "score", "loss"];
/// Accepted on reading as a synonym of `arch_str`, the name some tools use.
const ARCH_ALIAS: &str = "arch";

/// One evaluated architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub arch: Nb201Arch,
    /// NAS-Bench-201 index of `arch`; [`join`] rejects a row where the two disagree.
    pub index: usize,
    /// The supernet's figure of merit for this architecture (e.g. validation accuracy with inherited
    /// weights); which direction is better is the caller's choice, see [`super::Better`].
    pub score: f64,
    pub loss: Option<f64>,
    /// Further per-architecture figures, written as extra CSV columns in name order.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, f64>,
}

impl ScoreRow {
    pub fn new(arch: Nb201Arch, score: f64) -> Self {
        ScoreRow { arch, index: arch.to_index(), score, loss: None, extra: BTreeMap::new() }
    }
}

/// The scores of a set of architectures, in evaluation order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ArchScores {
    pub rows: Vec<ScoreRow>,
}

struct Line<'a> {
    number: usize,
    fields: Vec<&'a str>,
}

/// Non-blank lines split on commas, fields trimmed, with 1-based line numbers as an editor shows them.
fn csv_lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Line { number: i + 1, fields: l.split(',').map(str::trim).collect() })
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

fn parse_index(file: &str, line: usize, text: &str) -> Result<usize, RankError> {
    match text.parse::<usize>() {
        Ok(i) if i < NUM_ARCHS => Ok(i),
        _ => Err(RankError::CsvIndex { file: file.to_string(), line, text: text.to_string() }),
    }
}

fn parse_arch(file: &str, line: usize, text: &str) -> Result<Nb201Arch, RankError> {
    text.parse::<Nb201Arch>().map_err(|e| RankError::CsvArch {
        file: file.to_string(),
        line,
        text: text.to_string(),
        reason: e.to_string(),
    })
}

/// The cell a row names through an index column, an arch column or both (which must agree).
fn resolve_key(
    file: &str,
    line: usize,
    index_text: Option<&str>,
    arch_text: Option<&str>,
) -> Result<(usize, Nb201Arch), RankError> {
    let index = index_text.map(|t| parse_index(file, line, t)).transpose()?;
    let arch = arch_text.map(|t| parse_arch(file, line, t)).transpose()?;
    match (index, arch) {
        (Some(i), Some(a)) if a.to_index() != i => Err(RankError::CsvIndexArchMismatch {
            file: file.to_string(),
            line,
            index: i,
            arch: a.to_string(),
            arch_index: a.to_index(),
        }),
        (_, Some(a)) => Ok((a.to_index(), a)),
        (Some(i), None) => Nb201Arch::from_index(i).map(|a| (i, a)).map_err(|_| RankError::CsvIndex {
            file: file.to_string(),
            line,
            text: i.to_string(),
        }),
        // The header checks rule this out; an error rather than a panic keeps that assumption cheap.
        (None, None) => Err(RankError::CsvHeader {
            file: file.to_string(),
            line,
            detail: "neither an `index` nor an `arch_str` column".to_string(),
        }),
    }
}

fn check_field_count(file: &str, line: &Line<'_>, expected: usize) -> Result<(), RankError> {
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

fn check_duplicate(file: &str, seen: &mut HashMap<usize, usize>, index: usize, line: usize) -> Result<(), RankError> {
    if let Some(&first_line) = seen.get(&index) {
        return Err(RankError::CsvDuplicate { file: file.to_string(), line, index, first_line });
    }
    seen.insert(index, line);
    Ok(())
}

impl ArchScores {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a row with no loss or extras and returns it for filling those in.
    pub fn push(&mut self, arch: Nb201Arch, score: f64) -> &mut ScoreRow {
        self.rows.push(ScoreRow::new(arch, score));
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

    /// The CSV text: `index,arch_str,score,loss[,extra...]`; an absent loss or extra is an empty field.
    /// Numbers print in Rust's shortest round-trip form, so reading the file back is exact.
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
        let mut out = BASE_COLUMNS.join(",");
        for name in &extras {
            out.push(',');
            out.push_str(name);
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&format!("{},{},{},", row.index, row.arch, row.score));
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

    pub fn read_csv(path: &Path) -> Result<Self, RankError> {
        Self::from_csv_str(&read_text(path)?, &path.display().to_string())
    }

    /// Parses score CSV text; `file` names the source in error messages.
    pub fn from_csv_str(text: &str, file: &str) -> Result<Self, RankError> {
        let mut lines = csv_lines(text);
        let header = lines.next().ok_or_else(|| RankError::CsvEmpty { file: file.to_string() })?;
        let header_err = |detail: String| RankError::CsvHeader { file: file.to_string(), line: header.number, detail };
        let (mut index_col, mut arch_col, mut score_col, mut loss_col) = (None, None, None, None);
        let mut extra_cols = Vec::new();
        for (pos, &name) in header.fields.iter().enumerate() {
            if header.fields[..pos].contains(&name) {
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
            let (index, arch) =
                resolve_key(file, n, index_col.map(|c| line.fields[c]), arch_col.map(|c| line.fields[c]))?;
            check_duplicate(file, &mut seen, index, n)?;
            let score = parse_number(file, n, "score", line.fields[score_col], true)?;
            let loss = match loss_col.map(|c| line.fields[c]) {
                None | Some("") => None,
                Some(t) => Some(parse_number(file, n, "loss", t, false)?),
            };
            let mut extra = BTreeMap::new();
            for &(c, name) in &extra_cols {
                let t = line.fields[c];
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

/// Ground-truth accuracy for some or all NAS-Bench-201 cells, looked up by index.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruth {
    name: String,
    values: Vec<Option<f64>>,
}

impl GroundTruth {
    /// One accuracy column of the embedded table; covers all 15,625 cells.
    pub fn from_column(column: Column) -> Self {
        let table = Nb201Table::embedded();
        GroundTruth { name: column.name().to_string(), values: table.rows().map(|r| Some(r.value(column))).collect() }
    }

    /// From `(index, value)` pairs, e.g. accuracies the caller trained itself. Later pairs for the
    /// same index replace earlier ones; indices past the table are ignored.
    pub fn from_pairs(name: &str, pairs: impl IntoIterator<Item = (usize, f64)>) -> Self {
        let mut values = vec![None; NUM_ARCHS];
        for (i, v) in pairs {
            if let Some(slot) = values.get_mut(i) {
                *slot = Some(v);
            }
        }
        GroundTruth { name: name.to_string(), values }
    }

    pub fn read_csv(path: &Path) -> Result<Self, RankError> {
        Self::from_csv_str(&read_text(path)?, &path.display().to_string())
    }

    /// Parses `arch_str,accuracy` or `index,accuracy` rows (a third column is allowed when both
    /// `index` and `arch_str` are given, and they must agree). A first line whose value field is a
    /// number is data, not a header; a headerless key is an index if it is all digits, else an arch.
    pub fn from_csv_str(text: &str, file: &str) -> Result<Self, RankError> {
        let mut lines = csv_lines(text).peekable();
        let first = lines.peek().ok_or_else(|| RankError::CsvEmpty { file: file.to_string() })?;
        let has_header = first.fields.len() < 2 || first.fields.last().is_none_or(|t| t.parse::<f64>().is_err());
        let (index_col, arch_col, value_col, width, value_name) = if has_header {
            let header = lines.next().ok_or_else(|| RankError::CsvEmpty { file: file.to_string() })?;
            let header_err =
                |detail: String| RankError::CsvHeader { file: file.to_string(), line: header.number, detail };
            let (mut index_col, mut arch_col) = (None, None);
            let mut values: Vec<usize> = vec![];
            for (pos, &name) in header.fields.iter().enumerate() {
                let slot = match name {
                    "index" => &mut index_col,
                    "arch_str" | ARCH_ALIAS => &mut arch_col,
                    _ => {
                        values.push(pos);
                        continue;
                    }
                };
                if slot.is_some() {
                    return Err(header_err(format!(
                        "`{}` has more than one key column; expected `arch_str,accuracy` or `index,accuracy`",
                        header.fields.join(",")
                    )));
                }
                *slot = Some(pos);
            }
            // Several value columns (oxnas groundtruth writes accuracy, top5, params, ...): the one named
            // `accuracy` is the ground truth; otherwise the choice would be a guess.
            let value_col = match values.as_slice() {
                [] => None,
                [one] => Some(*one),
                many => match many.iter().find(|&&p| header.fields[p] == "accuracy") {
                    Some(&p) => Some(p),
                    None => {
                        return Err(header_err(format!(
                            "`{}` has several value columns and none is named `accuracy`; keep one, or name the ground truth `accuracy`",
                            header.fields.join(",")
                        )))
                    }
                },
            };
            let Some(value_col) = value_col else {
                return Err(header_err(format!(
                    "`{}` has no accuracy column; expected `arch_str,accuracy` or `index,accuracy`",
                    header.fields.join(",")
                )));
            };
            if index_col.is_none() && arch_col.is_none() {
                return Err(header_err(format!(
                    "`{}` has no `index` or `arch_str` column; expected `arch_str,accuracy` or `index,accuracy`",
                    header.fields.join(",")
                )));
            }
            let name = header.fields[value_col].to_string();
            (index_col, arch_col, value_col, header.fields.len(), name)
        } else {
            (None, None, 1, 2, "accuracy".to_string())
        };
        let mut values = vec![None; NUM_ARCHS];
        let mut seen = HashMap::new();
        for line in lines {
            check_field_count(file, &line, width)?;
            let n = line.number;
            let (index, _) = if has_header {
                resolve_key(file, n, index_col.map(|c| line.fields[c]), arch_col.map(|c| line.fields[c]))?
            } else {
                let key = line.fields[0];
                if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
                    resolve_key(file, n, Some(key), None)?
                } else {
                    resolve_key(file, n, None, Some(key))?
                }
            };
            check_duplicate(file, &mut seen, index, n)?;
            values[index] = Some(parse_number(file, n, &value_name, line.fields[value_col], true)?);
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

    pub fn get(&self, index: usize) -> Option<f64> {
        self.values.get(index).copied().flatten()
    }

    /// Number of cells with a value.
    pub fn len(&self) -> usize {
        self.values.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(index, value)` for every cell with a value, by index.
    pub fn iter(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (i, v)))
    }
}

/// Where ground truth comes from, as a user names it on a command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruthSource {
    Column(Column),
    Csv(PathBuf),
}

impl TruthSource {
    pub fn load(&self) -> Result<GroundTruth, RankError> {
        match self {
            TruthSource::Column(c) => Ok(GroundTruth::from_column(*c)),
            TruthSource::Csv(p) => GroundTruth::read_csv(p),
        }
    }
}

impl FromStr for TruthSource {
    type Err = RankError;

    /// A table column name, else a path; only something that looks like a path (a separator or a
    /// `.csv` ending) is taken as one, so that a mistyped column name gets the list of columns.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
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
        }
    }
}

/// A scored architecture together with its ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JoinedRow {
    pub index: usize,
    pub arch: Nb201Arch,
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
    /// NB201 indices of scored architectures without a ground-truth value.
    pub missing: Vec<usize>,
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
            const SHOWN: usize = 10;
            let list: Vec<String> = self.missing.iter().take(SHOWN).map(usize::to_string).collect();
            write!(f, "; {} without ground truth (NB201 indices {}", self.missing.len(), list.join(", "))?;
            if self.missing.len() > SHOWN {
                write!(f, ", and {} more", self.missing.len() - SHOWN)?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Pairs every score with its ground truth by NB201 index. Fails on a score table that names an
/// architecture twice, whose index and arch disagree, or that holds a NaN or infinite score; scored
/// architectures without ground truth are listed in [`Joined::missing`].
pub fn join(scores: &ArchScores, truth: &GroundTruth) -> Result<Joined, RankError> {
    check_finite("scores", &scores.rows.iter().map(|r| r.score).collect::<Vec<_>>())?;
    let mut first_row = HashMap::new();
    let mut rows = Vec::with_capacity(scores.len());
    let mut missing = Vec::new();
    for (pos, r) in scores.rows.iter().enumerate() {
        let arch_index = r.arch.to_index();
        if arch_index != r.index {
            return Err(RankError::IndexArchMismatch {
                row: pos,
                index: r.index,
                arch: r.arch.to_string(),
                arch_index,
            });
        }
        if let Some(&first) = first_row.get(&r.index) {
            return Err(RankError::DuplicateIndex { index: r.index, first, second: pos });
        }
        first_row.insert(r.index, pos);
        match truth.get(r.index) {
            Some(t) => rows.push(JoinedRow { index: r.index, arch: r.arch, score: r.score, truth: t }),
            None => missing.push(r.index),
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

    const BEST_C100: &str =
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
    const ALL_SKIP: &str =
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";

    fn arch(s: &str) -> Nb201Arch {
        s.parse().unwrap()
    }

    #[test]
    fn a_truth_sharing_no_rows_with_the_scores_says_so() {
        let scores =
            ArchScores::from_csv_str(&format!("index,arch_str,score,loss\n1835,{ALL_SKIP},0.5,\n"), "s.csv").unwrap();
        let truth = GroundTruth::from_csv_str(&format!("arch_str,accuracy\n{BEST_C100},90\n"), "t.csv").unwrap();
        let e = join(&scores, &truth).unwrap_err().to_string();
        assert!(e.contains("share no rows") && e.contains("t.csv"), "{e}");
    }

    #[test]
    fn csv_round_trip_with_loss_and_extras() {
        let mut s = ArchScores::new();
        let r = s.push(arch(BEST_C100), 71.25);
        r.loss = Some(1.0 / 3.0);
        r.extra.insert("top5".into(), 92.5);
        s.push(arch(ALL_SKIP), 0.1 + 0.2).extra.insert("bn_steps".into(), 20.0);
        let text = s.to_csv_string().unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("index,arch_str,score,loss,bn_steps,top5"));
        // Index 9930 and 1835 come from the data README.
        assert_eq!(lines.next().unwrap(), format!("9930,{BEST_C100},71.25,0.3333333333333333,,92.5"));
        assert_eq!(lines.next().unwrap(), format!("1835,{ALL_SKIP},0.30000000000000004,,20,"));
        assert_eq!(ArchScores::from_csv_str(&text, "t").unwrap(), s);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scores.csv");
        s.write_csv(&path).unwrap();
        assert_eq!(ArchScores::read_csv(&path).unwrap(), s);
    }

    #[test]
    fn csv_reading_is_lenient_about_columns() {
        // Reordered columns, `arch` alias, no loss column, CRLF endings, blank lines.
        let text = format!("score,arch\r\n\r\n0.5,{BEST_C100}\r\n0.25,{ALL_SKIP}\r\n");
        let s = ArchScores::from_csv_str(&text, "t").unwrap();
        assert_eq!(s.rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![9930, 1835]);
        assert_eq!(s.rows[1].loss, None);
        // Index only.
        let s = ArchScores::from_csv_str("index,score\n1835,3\n", "t").unwrap();
        assert_eq!(s.rows[0].arch, arch(ALL_SKIP));
    }

    #[test]
    fn csv_errors_carry_line_numbers() {
        let bad_op = "index,arch_str,score,loss\n\n1,|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|,1,\n";
        let e = ArchScores::from_csv_str(bad_op, "s.csv").unwrap_err();
        assert!(matches!(e, RankError::CsvArch { line: 3, .. }), "{e}");
        assert!(e.to_string().starts_with("s.csv: line 3: unknown NAS-Bench-201 architecture"), "{e}");

        let mismatch = format!("index,arch_str,score\n5,{BEST_C100},1\n");
        let e = ArchScores::from_csv_str(&mismatch, "s").unwrap_err();
        assert!(matches!(e, RankError::CsvIndexArchMismatch { line: 2, index: 5, arch_index: 9930, .. }), "{e}");

        let dup = format!("arch_str,score\n{BEST_C100},1\n{ALL_SKIP},2\n{BEST_C100},3\n");
        let e = ArchScores::from_csv_str(&dup, "s").unwrap_err();
        assert!(matches!(e, RankError::CsvDuplicate { line: 4, first_line: 2, index: 9930, .. }), "{e}");

        let nan = format!("arch_str,score\n{BEST_C100},nan\n");
        let e = ArchScores::from_csv_str(&nan, "s").unwrap_err();
        assert!(matches!(e, RankError::CsvNumber { line: 2, .. }), "{e}");
        assert!(e.to_string().contains("NaN"), "{e}");

        let e = ArchScores::from_csv_str("index,score\n15625,1\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvIndex { line: 2, .. }), "{e}");
        let e = ArchScores::from_csv_str("index,score,loss\n1,2\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvFieldCount { line: 2, found: 2, expected: 3, .. }), "{e}");
        let e = ArchScores::from_csv_str("index,arch_str,loss\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvHeader { line: 1, .. }) && e.to_string().contains("score"), "{e}");
        let e = ArchScores::from_csv_str("score,loss\n1,2\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvHeader { .. }), "{e}");
        let e = ArchScores::from_csv_str("index,score,x,x\n", "s").unwrap_err();
        assert!(e.to_string().contains("appears twice"), "{e}");
        assert!(matches!(ArchScores::from_csv_str("\n\n", "s"), Err(RankError::CsvEmpty { .. })));
        assert!(matches!(ArchScores::from_csv_str("index,score\n", "s"), Err(RankError::CsvNoRows { .. })));
        let e = ArchScores::from_csv_str("index,score,top5\n1,2,high\n", "s").unwrap_err();
        assert!(matches!(e, RankError::CsvNumber { line: 2, ref column, .. } if column == "top5"), "{e}");
    }

    #[test]
    fn bad_extra_names_are_refused_on_write() {
        let mut s = ArchScores::new();
        s.push(arch(BEST_C100), 1.0).extra.insert("a,b".into(), 1.0);
        assert!(matches!(s.to_csv_string(), Err(RankError::BadExtraName { .. })));
        let mut s = ArchScores::new();
        s.push(arch(BEST_C100), 1.0).extra.insert("score".into(), 1.0);
        assert!(matches!(s.to_csv_string(), Err(RankError::BadExtraName { .. })));
    }

    #[test]
    fn truth_csv_forms() {
        let with_arch = format!("arch_str,acc\n{BEST_C100},73.5\n{ALL_SKIP},15.6\n");
        let t = GroundTruth::from_csv_str(&with_arch, "t.csv").unwrap();
        assert_eq!((t.get(9930), t.get(1835), t.get(0), t.len()), (Some(73.5), Some(15.6), None, 2));
        assert_eq!(t.name(), "t.csv:acc");

        let with_index = "index,accuracy\n9930,73.5\n";
        assert_eq!(GroundTruth::from_csv_str(with_index, "t").unwrap().get(9930), Some(73.5));

        // No header: the first line's value is a number; keys may mix indices and arch strings.
        let headerless = format!("9930,73.5\n{ALL_SKIP},15.6\n");
        let t = GroundTruth::from_csv_str(&headerless, "t").unwrap();
        assert_eq!((t.get(9930), t.get(1835)), (Some(73.5), Some(15.6)));

        let both = format!("index,arch_str,acc\n9930,{BEST_C100},1\n");
        assert_eq!(GroundTruth::from_csv_str(&both, "t").unwrap().get(9930), Some(1.0));
    }

    #[test]
    fn truth_csv_errors() {
        let unknown = "arch_str,acc\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,1\n|x~0|,2\n";
        let e = GroundTruth::from_csv_str(unknown, "gt.csv").unwrap_err();
        assert!(matches!(e, RankError::CsvArch { line: 3, ref text, .. } if text == "|x~0|"), "{e}");
        assert!(e.to_string().contains("gt.csv: line 3"), "{e}");
        let e = GroundTruth::from_csv_str("9930,73.5\nbanana,1\n", "t").unwrap_err();
        assert!(matches!(e, RankError::CsvArch { line: 2, .. }), "{e}");
        let e = GroundTruth::from_csv_str("index,acc\n1,NaN\n", "t").unwrap_err();
        assert!(matches!(e, RankError::CsvNumber { line: 2, .. }), "{e}");
        let e = GroundTruth::from_csv_str("index,acc,other\n1,2,3\n", "t").unwrap_err();
        assert!(e.to_string().contains("several value columns"), "{e}");
        let e = GroundTruth::from_csv_str("foo,acc\n1,2\n", "t").unwrap_err();
        assert!(e.to_string().contains("several value columns"), "{e}");
        // oxnas groundtruth's own CSV: the `accuracy` column is the ground truth.
        let g = GroundTruth::from_csv_str("index,arch_str,accuracy,top5,params,epochs,seconds\n1835,|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|,61.5,90.0,1000,3,2.5\n", "gt.csv").unwrap();
        assert_eq!(g.get(1835), Some(61.5));
        let e = GroundTruth::from_csv_str("index,acc\n1,2\n1,3\n", "t").unwrap_err();
        assert!(matches!(e, RankError::CsvDuplicate { line: 3, first_line: 2, .. }), "{e}");
        assert!(matches!(GroundTruth::from_csv_str("index,acc\n", "t"), Err(RankError::CsvNoRows { .. })));
    }

    #[test]
    fn truth_source_parsing() {
        assert_eq!(
            "cifar100_test_200ep".parse::<TruthSource>().unwrap(),
            TruthSource::Column(Column::Cifar100Test200ep)
        );
        assert_eq!("runs/gt.csv".parse::<TruthSource>().unwrap(), TruthSource::Csv("runs/gt.csv".into()));
        let e = "cifar10".parse::<TruthSource>().unwrap_err();
        assert!(e.to_string().contains("cifar10_test_200ep"), "{e}");
        let gt = TruthSource::Column(Column::Cifar10Test200ep).load().unwrap();
        assert_eq!(gt.len(), NUM_ARCHS);
        // README: the all-skip cell (1835) scores 54.2967 on CIFAR-10 test.
        assert!((gt.get(1835).unwrap() - 54.296667).abs() < 1e-3, "{:?}", gt.get(1835));
        let e = TruthSource::Csv("/nonexistent/gt.csv".into()).load().unwrap_err();
        assert!(matches!(e, RankError::Read { .. }) && e.to_string().contains("/nonexistent/gt.csv"), "{e}");
    }

    #[test]
    fn join_reports_matched_and_missing() {
        let mut s = ArchScores::new();
        s.push(arch(BEST_C100), 0.9);
        s.push(arch(ALL_SKIP), 0.8);
        s.push(Nb201Arch::from_index(7).unwrap(), 0.1);
        let gt = GroundTruth::from_pairs("gt", [(9930, 73.5), (7, 10.0), (42, 50.0)]);
        let j = join(&s, &gt).unwrap();
        assert_eq!(j.matched(), 2);
        assert_eq!(j.missing, vec![1835]);
        assert_eq!(j.scores(), vec![0.9, 0.1]);
        assert_eq!(j.truths(), vec![73.5, 10.0]);
        assert_eq!(
            j.to_string(),
            "matched 2 of 3 scored architectures with ground truth `gt`; 1 without ground truth (NB201 indices 1835)"
        );

        let mut dup = s.clone();
        dup.push(arch(ALL_SKIP), 0.0);
        assert!(matches!(join(&dup, &gt), Err(RankError::DuplicateIndex { index: 1835, first: 1, second: 3 })));
        let mut bad = s.clone();
        bad.rows[0].index = 3;
        assert!(matches!(join(&bad, &gt), Err(RankError::IndexArchMismatch { row: 0, .. })));
        let mut nan = s.clone();
        nan.rows[2].score = f64::NAN;
        assert!(matches!(join(&nan, &gt), Err(RankError::NaN { which: "scores", index: 2 })));
    }
}
