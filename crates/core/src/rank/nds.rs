//! Ground truth from "On Network Design Spaces for Visual Recognition" (Radosavovic et al. 2019): the
//! model records facebookresearch/nds publishes per design space (`DARTS.json`, `DARTS_fix-w-d.json`, ...).
//!
//! A file is a JSON list of records, or an object whose `top` and `mid` lists hold them (how some of
//! the files are split). A record of a cell space keeps its genotype under `net.genotype` as
//! `{"normal": [[op, input], ...], "normal_concat": [...], "reduce": ..., "reduce_concat": ...}` in
//! the DARTS convention (inputs 0, 1 are the cell inputs, 2.. the nodes), the network's `width` and
//! `depth` beside it, and `test_ep_top1`, the test top-1 *error* in percent after each epoch. The
//! truth of a record is its final test accuracy, 100 − the last `test_ep_top1`, as the NDS reference
//! code reads it.
//!
//! NDS names the seven DARTS ops as the DARTS code does, so op names map unchanged. Records outside
//! the ranking space (other ops such as `sep_conv_7x7`, other node counts, a node reading one input
//! twice, a concat of loose ends) are skipped and counted by reason; records of one genotype trained
//! several times (NDS's random width and depth, reruns) are averaged and counted. Nothing is dropped
//! silently: [`NdsTruth`]'s `Display` says what was kept, skipped and merged.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

use super::scores::GroundTruth;
use crate::darts::{Genotype, GenotypeError};
use crate::oneshot::darts::DartsRankSpace;
use crate::oneshot::RankSpace;

/// A file that is not an NDS model file.
#[derive(Debug, thiserror::Error)]
pub enum NdsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: not JSON ({message}); an NDS file is a list of model records, e.g. DARTS.json from facebookresearch/nds")]
    Json { file: String, message: String },
    #[error("{file}: the top level is {found}; an NDS file is a list of model records or an object with `top` and `mid` lists")]
    Layout { file: String, found: String },
    #[error("{file}: record {record}: {message}")]
    Record { file: String, record: usize, message: String },
    #[error(
        "{file}: none of its {records} records is in the {space} space ({skipped}); the file is of another \
         design space, or its cells fall outside this op set"
    )]
    NoneInSpace { file: String, records: usize, space: &'static str, skipped: String },
}

/// The accuracies read from an NDS file, with what was left out and why.
#[derive(Debug, Clone, PartialEq)]
pub struct NdsTruth {
    pub file: String,
    /// Records in the file.
    pub records: usize,
    /// (canonical genotype, mean final test accuracy in %), in first-record order.
    pub rows: Vec<(String, f64)>,
    /// Records left out, counted by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Records whose genotype an earlier record already had (averaged into its row).
    pub merged: usize,
    /// Records kept, counted by network setting (`width`, `depth`); NDS's DARTS file samples them
    /// per model, so one truth mixes several settings unless the file fixes them.
    pub settings: BTreeMap<(i64, i64), usize>,
}

impl NdsTruth {
    pub fn read(path: &Path, space: &dyn RankSpace) -> Result<Self, NdsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| NdsError::Read { path: path.display().to_string(), source })?;
        Self::from_json_str(&text, &path.display().to_string(), space)
    }

    pub fn from_json_str(text: &str, file: &str, space: &dyn RankSpace) -> Result<Self, NdsError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| NdsError::Json { file: file.into(), message: e.to_string() })?;
        let records = records(value, file)?;
        let mut out = NdsTruth {
            file: file.into(),
            records: records.len(),
            rows: vec![],
            skipped: BTreeMap::new(),
            merged: 0,
            settings: BTreeMap::new(),
        };
        let mut sums: BTreeMap<String, (usize, f64, usize)> = BTreeMap::new();
        for (i, record) in records.iter().enumerate() {
            let bad = |message: String| NdsError::Record { file: file.into(), record: i, message };
            let accuracy = final_accuracy(record).map_err(bad)?;
            let arch = match in_space(record, space) {
                Ok(arch) => arch,
                Err(reason) => {
                    *out.skipped.entry(reason).or_default() += 1;
                    continue;
                }
            };
            let setting = |key: &str| record["net"][key].as_i64().unwrap_or(-1);
            *out.settings.entry((setting("width"), setting("depth"))).or_default() += 1;
            let entry = sums.entry(arch).or_insert((i, 0.0, 0));
            entry.1 += accuracy;
            entry.2 += 1;
            if entry.2 > 1 {
                out.merged += 1;
            }
        }
        if sums.is_empty() {
            return Err(NdsError::NoneInSpace {
                file: file.into(),
                records: out.records,
                space: space.name(),
                skipped: out.skipped_text(),
            });
        }
        let mut rows: Vec<(usize, String, f64)> =
            sums.into_iter().map(|(arch, (first, sum, n))| (first, arch, sum / n as f64)).collect();
        rows.sort_by_key(|r| r.0);
        out.rows = rows.into_iter().map(|(_, arch, acc)| (arch, acc)).collect();
        Ok(out)
    }

    pub fn ground_truth(&self) -> GroundTruth {
        GroundTruth::from_pairs(&format!("nds:{}:test_acc", self.file), self.rows.iter().cloned())
    }

    fn skipped_text(&self) -> String {
        if self.skipped.is_empty() {
            return "none skipped".into();
        }
        let parts: Vec<String> = self.skipped.iter().map(|(why, n)| format!("{n} with {why}")).collect();
        format!("skipped {}", parts.join(", "))
    }
}

impl fmt::Display for NdsTruth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kept: usize = self.settings.values().sum();
        write!(
            f,
            "{}: {} records, {kept} in the space ({} distinct genotypes",
            self.file,
            self.records,
            self.rows.len()
        )?;
        if self.merged > 0 {
            write!(f, "; {} repeats averaged", self.merged)?;
        }
        write!(f, "); {}", self.skipped_text())?;
        let settings: Vec<String> = self.settings.iter().map(|((w, d), n)| format!("w{w} d{d}: {n}")).collect();
        write!(f, "; settings (width, depth): {}", settings.join(", "))
    }
}

fn records(value: Value, file: &str) -> Result<Vec<Value>, NdsError> {
    match value {
        Value::Array(records) => Ok(records),
        Value::Object(mut map) if map.contains_key("top") || map.contains_key("mid") => {
            let mut out = vec![];
            for key in ["top", "mid"] {
                match map.remove(key) {
                    Some(Value::Array(part)) => out.extend(part),
                    None => {}
                    Some(other) => {
                        return Err(NdsError::Layout {
                            file: file.into(),
                            found: format!("`{key}` = {}", kind(&other)),
                        })
                    }
                }
            }
            Ok(out)
        }
        other => Err(NdsError::Layout { file: file.into(), found: kind(&other).into() }),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object without `top`/`mid`",
    }
}

/// 100 − the last epoch's test top-1 error.
fn final_accuracy(record: &Value) -> Result<f64, String> {
    let errors = record
        .get("test_ep_top1")
        .and_then(Value::as_array)
        .ok_or("no `test_ep_top1` list (the test top-1 error per epoch)")?;
    let last = errors.last().ok_or("`test_ep_top1` is empty")?;
    match last.as_f64() {
        Some(e) if (0.0..=100.0).contains(&e) => Ok(100.0 - e),
        _ => Err(format!("the last `test_ep_top1` value is {last}, not an error percentage in [0, 100]")),
    }
}

/// The record's canonical genotype in `space`, or why it is not there (a reason shared by many records).
fn in_space(record: &Value, space: &dyn RankSpace) -> Result<String, String> {
    let Some(genotype) = record.get("net").and_then(|n| n.get("genotype")) else {
        return Err("no cell genotype (`net.genotype`), e.g. a ResNet record".into());
    };
    let g = Genotype::from_json(&genotype.to_string()).map_err(|e| match e {
        GenotypeError::UnknownOp { op, .. } => format!("op {op}, not a DARTS op"),
        GenotypeError::NoneOp { .. } => "op none".into(),
        other => format!("an invalid genotype ({other})"),
    })?;
    // The full DARTS space names the structural reasons; the given space may restrict ops further.
    DartsRankSpace::default().check(&g).map_err(|e| e.category())?;
    space.canonical(&g.to_string()).map_err(|_| "ops outside the space's op set".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::darts::OpSet;

    /// Two records of DARTS_V2 (pairs in different orders, widths 16 and 32), one with
    /// sep_conv_7x7, one with 5 nodes per cell (NASNet-like), one without a genotype.
    fn file() -> String {
        let v2 = Genotype::named("DARTS_V2").unwrap();
        let json = |g: &Genotype| g.to_json();
        let mut swapped = v2.clone();
        swapped.normal.swap(0, 1);
        let seven = json(&v2).replacen("sep_conv_3x3", "sep_conv_7x7", 1);
        let v1 = Genotype::named("DARTS_V1").unwrap();
        let five = r#"{"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1]], "normal_concat": [2, 3, 4, 5, 6], "reduce": [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["max_pool_3x3", 1], ["max_pool_3x3", 0], ["max_pool_3x3", 1]], "reduce_concat": [2, 3, 4, 5, 6]}"#;
        let record = |g: &str, w: i64, errors: &str| {
            format!(
                r#"{{"job_id": 1, "rng_seed": 1, "params": 1000, "flops": 2000, "min_test_top1": 5.0,
                    "net": {{"genotype": {g}, "width": {w}, "depth": 8, "aux": false, "drop_prob": 0.0}},
                    "optim": {{"base_lr": 0.1, "wd": 0.0005, "max_ep": 3}},
                    "train_ep_top1": [50.0, 30.0, 20.0], "test_ep_top1": {errors}}}"#
            )
        };
        format!(
            r#"{{"top": [{}, {}], "mid": [{}, {}, {}, {}]}}"#,
            record(&json(&v2), 16, "[60.0, 20.0, 6.0]"),
            record(&json(&swapped), 32, "[50.0, 10.0, 4.0]"),
            record(&json(&v1), 16, "[70.0, 12.5]"),
            record(&seven, 16, "[9.0]"),
            record(five, 16, "[9.0]"),
            r#"{"net": {"ds": [1, 2], "block_type": "res_basic_block"}, "test_ep_top1": [10.0]}"#,
        )
    }

    #[test]
    fn reads_the_nds_record_format() {
        let space = DartsRankSpace::default();
        let t = NdsTruth::from_json_str(&file(), "DARTS.json", &space).unwrap();
        assert_eq!(t.records, 6);
        let v2 = space.canonical("DARTS_V2").unwrap();
        let v1 = space.canonical("DARTS_V1").unwrap();
        // DARTS_V2 twice: accuracies 94 and 96 average to 95; DARTS_V1: 100 - 12.5.
        assert_eq!(t.rows, vec![(v2.clone(), 95.0), (v1, 87.5)]);
        assert_eq!(t.merged, 1);
        assert_eq!(t.settings, BTreeMap::from([((16, 8), 2), ((32, 8), 1)]));
        let skipped: Vec<(&str, usize)> = t.skipped.iter().map(|(k, &v)| (k.as_str(), v)).collect();
        assert_eq!(
            skipped,
            [
                ("cells with 5 nodes instead of 4", 1),
                ("no cell genotype (`net.genotype`), e.g. a ResNet record", 1),
                ("op sep_conv_7x7, not a DARTS op", 1),
            ]
        );
        let text = t.to_string();
        assert!(
            text.starts_with("DARTS.json: 6 records, 3 in the space (2 distinct genotypes; 1 repeats averaged)"),
            "{text}"
        );
        assert!(text.ends_with("settings (width, depth): w16 d8: 2, w32 d8: 1"), "{text}");
        assert_eq!(t.ground_truth().get(&v2), Some(95.0));
        // A plain list of records reads the same.
        let list = file().replacen(r#"{"top": ["#, "[", 1).replacen(r#"], "mid": ["#, ", ", 1);
        let list = format!("{}]", list.trim_end().strip_suffix("]}").unwrap());
        assert_eq!(NdsTruth::from_json_str(&list, "DARTS.json", &space).unwrap(), t);
    }

    #[test]
    fn a_restricted_op_set_skips_what_it_lacks() {
        // DARTS_V1 has an average pool, outside SGAS-es's op set.
        let space = DartsRankSpace::new(OpSet::sgas_es());
        let t = NdsTruth::from_json_str(&file(), "f", &space).unwrap();
        assert_eq!(t.rows.len(), 1);
        assert_eq!(t.skipped["ops outside the space's op set"], 1);
    }

    #[test]
    fn corrupt_files_are_clear_errors() {
        let space = DartsRankSpace::default();
        let e = |text: &str| NdsTruth::from_json_str(text, "f.json", &space).unwrap_err().to_string();
        assert!(e(r#"[{"net": "#).starts_with("f.json: not JSON (EOF while parsing"), "{}", e("[{"));
        assert_eq!(
            e(r#"{"models": []}"#),
            "f.json: the top level is an object without `top`/`mid`; an NDS file is a list of model records or an object with `top` and `mid` lists"
        );
        let no_error = file().replace(r#""test_ep_top1": [70.0, 12.5]"#, r#""test_top1": 12.5"#);
        assert_eq!(e(&no_error), "f.json: record 2: no `test_ep_top1` list (the test top-1 error per epoch)");
        let bad_value = file().replace("[70.0, 12.5]", r#"[70.0, "x"]"#);
        assert!(e(&bad_value).contains("record 2: the last `test_ep_top1` value is \"x\""), "{}", e(&bad_value));
        let e = e(r#"[{"net": {"ds": [1]}, "test_ep_top1": [10.0]}]"#);
        assert!(e.contains("none of its 1 records is in the darts space (skipped 1 with no cell genotype"), "{e}");
    }
}
