//! The NAS-Bench-101 results as a compact table: imported once from the official TFRecord file,
//! then opened in milliseconds and queried by module hash.
//!
//! Import reads every record (TFRecord framing with CRCs, see [`super::tfrecord`]): a JSON array
//! `[hash, epochs, adjacency, operations, metrics]` where adjacency is the pruned matrix as n²
//! digits, operations the comma-separated op names and metrics a base64 `ModelMetrics` protobuf.
//! Each record's cell is rebuilt and must hash to the record's key. The final checkpoint of each run
//! (the last `evaluation_data`, the benchmark's third) gives one repeat; records of one hash and
//! epoch budget are its repeats, in file order.
//!
//! File layout, all integers little-endian:
//!
//! ```text
//! header (32 bytes)
//!   0  magic    b"OXNB101\0"
//!   8  version  u32 = 1
//!  12  cells    u32
//!  16  budgets  u32   B, epoch budgets in the file (1 for nasbench_only108, 4 for nasbench_full)
//!  20  repeats  u32   R, most repeats of any cell at any budget (3 in the official files)
//!  24  crc32c   u32   of everything after the header
//!  28  reserved u32 = 0
//! B × u32                epoch budgets, ascending
//! cells × row, ascending by hash:
//!   16 bytes             module hash (the 32 hex digits as bytes)
//!   u8 vertices, 7 × u8  matrix rows as bits (bit j of row i: edge i→j), unused rows 0
//!   5 × u8               op labels of vertices 1..n-1 (0 conv3x3, 1 conv1x1, 2 maxpool), unused 255
//!   u32                  trainable parameters
//!   B × R × 4 × f32      per budget, per repeat: training time (s), train, validation and test
//!                        accuracy at the end of training; NaN where a cell has fewer repeats
//! ```
//!
//! Why this shape: rows of fixed size sorted by hash answer a query by binary search on the raw
//! bytes, with no parsing of the other cells; f32 is exact for the benchmark, whose values were
//! computed in float32 and widened to double. The official 108-epoch file (423,624 cells × 3
//! repeats) makes 34 MB.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use base64::Engine;
use prost::Message;

use super::cell::{Cell, CellError, MAX_VERTICES};
use super::hash::{hash_bytes, hash_hex};
use super::metrics::ModelMetrics;
use super::op::Nb101Op;
use super::tfrecord::{TfRecordError, TfRecordReader};

pub const MAGIC: [u8; 8] = *b"OXNB101\0";
pub const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
const FIXED_ROW: usize = 16 + 1 + 7 + 5 + 4;
const MAX_OPS: usize = MAX_VERTICES - 2;

/// The end-of-training metrics of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    pub train_time: f32,
    pub train_acc: f32,
    pub valid_acc: f32,
    pub test_acc: f32,
}

impl Run {
    fn values(&self) -> [f32; 4] {
        [self.train_time, self.train_acc, self.valid_acc, self.test_acc]
    }
}

/// All runs of one cell at one epoch budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetRuns {
    pub epochs: u32,
    pub runs: Vec<Run>,
}

impl BudgetRuns {
    /// Mean of one metric over the repeats.
    pub fn mean(&self, metric: impl Fn(&Run) -> f32) -> f64 {
        self.runs.iter().map(|r| metric(r) as f64).sum::<f64>() / self.runs.len().max(1) as f64
    }
}

/// Everything the table holds about one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRecord {
    pub hash: String,
    /// The cell as the benchmark stored it (one spelling of its class).
    pub cell: Cell,
    pub params: u64,
    pub budgets: Vec<BudgetRuns>,
}

impl CellRecord {
    pub fn at(&self, epochs: u32) -> Option<&BudgetRuns> {
        self.budgets.iter().find(|b| b.epochs == epochs)
    }
}

/// What is wrong with one record of the official file.
#[derive(Debug, thiserror::Error)]
pub enum RecordProblem {
    #[error("not the JSON array [hash, epochs, adjacency, operations, metrics] the benchmark writes: {0}")]
    Json(String),
    #[error("the metrics field is not valid base64: {0}")]
    Base64(String),
    #[error("the metrics field is not a ModelMetrics protobuf: {0}")]
    Protobuf(String),
    #[error("'{0}' is not a module hash (32 hex digits)")]
    Hash(String),
    #[error("adjacency '{0}' is not a square matrix written as 0/1 digits")]
    Adjacency(String),
    #[error("the cell is not valid: {0}")]
    Cell(#[from] CellError),
    #[error("the record's hash {stated} does not match its cell, whose module hash is {computed}")]
    HashMismatch { stated: String, computed: String },
    #[error("the metrics hold no evaluation")]
    NoEvaluation,
    #[error("the metrics have no trainable_parameters")]
    NoParams,
    #[error("an earlier record of {hash} has {earlier} parameters, this one {now}")]
    ParamsDisagree { hash: String, earlier: u64, now: u64 },
    #[error("an earlier record of {hash} has another cell ({earlier}; this one {now})")]
    CellDisagree { hash: String, earlier: String, now: String },
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", path.display())]
    Open { path: PathBuf, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Frame { path: PathBuf, source: TfRecordError },
    #[error("{}: record {record}: {problem}", path.display())]
    Record { path: PathBuf, record: usize, problem: RecordProblem },
    #[error("{}: no records; expected the benchmark's nasbench_only108.tfrecord or nasbench_full.tfrecord", path.display())]
    Empty { path: PathBuf },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Why a table file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: not an oxnas NAS-Bench-101 table (bad magic); create one with `oxnas bench import nb101 <file.tfrecord>`", path.display())]
    Magic { path: PathBuf },
    #[error("{}: table format version {found}, this oxnas reads version {VERSION}; import the TFRecord file again", path.display())]
    Version { path: PathBuf, found: u32 },
    #[error("{}: {len} bytes, but its header describes {expected}; the file is truncated or corrupt, import again", path.display())]
    Length { path: PathBuf, len: usize, expected: usize },
    #[error("{}: checksum mismatch; the file is corrupt, import again", path.display())]
    Checksum { path: PathBuf },
    #[error("{}: row {row} is not a valid cell ({reason}); the file is corrupt, import again", path.display())]
    Row { path: PathBuf, row: usize, reason: String },
}

/// What an import found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub records: usize,
    pub cells: usize,
    pub budgets: Vec<u32>,
    pub repeats: usize,
    pub bytes: usize,
}

struct Pending {
    cell: Cell,
    params: u64,
    runs: BTreeMap<u32, Vec<Run>>,
}

/// Reads an official TFRecord file and writes the compact table to `out` (atomically).
pub fn import(tfrecord: &Path, out: &Path) -> Result<ImportSummary, ImportError> {
    let f = std::fs::File::open(tfrecord).map_err(|source| ImportError::Open { path: tfrecord.into(), source })?;
    let (bytes, mut summary) = build(BufReader::with_capacity(1 << 20, f), tfrecord)?;
    crate::fsutil::write_atomic(out, &bytes).map_err(|source| ImportError::Write { path: out.into(), source })?;
    summary.bytes = bytes.len();
    Ok(summary)
}

/// The table's bytes from a TFRecord stream; `path` only names the source in errors.
pub fn build(reader: impl Read, path: &Path) -> Result<(Vec<u8>, ImportSummary), ImportError> {
    let mut rd = TfRecordReader::new(reader);
    let mut cells: HashMap<[u8; 16], Pending> = HashMap::new();
    let mut buf = Vec::new();
    let mut records = 0;
    while rd.next_into(&mut buf).map_err(|source| ImportError::Frame { path: path.into(), source })? {
        records += 1;
        add_record(&buf, &mut cells).map_err(|problem| ImportError::Record {
            path: path.into(),
            record: rd.record_number(),
            problem,
        })?;
    }
    if cells.is_empty() {
        return Err(ImportError::Empty { path: path.into() });
    }
    let budgets: Vec<u32> =
        cells.values().flat_map(|p| p.runs.keys().copied()).collect::<BTreeSet<_>>().into_iter().collect();
    let repeats = cells.values().flat_map(|p| p.runs.values().map(Vec::len)).max().unwrap_or(0);
    let mut sorted: Vec<(&[u8; 16], &Pending)> = cells.iter().collect();
    sorted.sort_unstable_by_key(|(h, _)| **h);
    let row_len = FIXED_ROW + budgets.len() * repeats * 16;
    let mut body = Vec::with_capacity(budgets.len() * 4 + sorted.len() * row_len);
    for b in &budgets {
        body.extend_from_slice(&b.to_le_bytes());
    }
    for (hash, p) in &sorted {
        body.extend_from_slice(&hash[..]);
        body.push(p.cell.vertices() as u8);
        let mut rows = [0u8; 7];
        rows[..p.cell.vertices()].copy_from_slice(p.cell.rows());
        body.extend_from_slice(&rows);
        let mut ops = [u8::MAX; MAX_OPS];
        for (slot, op) in ops.iter_mut().zip(p.cell.ops()) {
            *slot = op.label() as u8;
        }
        body.extend_from_slice(&ops);
        body.extend_from_slice(&(p.params as u32).to_le_bytes());
        for b in &budgets {
            let runs = p.runs.get(b).map(Vec::as_slice).unwrap_or(&[]);
            for r in 0..repeats {
                let v = runs.get(r).map_or([f32::NAN; 4], Run::values);
                for x in v {
                    body.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
    }
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(&MAGIC);
    for x in [VERSION, sorted.len() as u32, budgets.len() as u32, repeats as u32, crc32c::crc32c(&body), 0] {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.extend_from_slice(&body);
    let summary = ImportSummary { records, cells: sorted.len(), budgets, repeats, bytes: bytes.len() };
    Ok((bytes, summary))
}

fn add_record(data: &[u8], cells: &mut HashMap<[u8; 16], Pending>) -> Result<(), RecordProblem> {
    let (hash, epochs, adjacency, operations, metrics): (String, u32, String, String, String) =
        serde_json::from_slice(data).map_err(|e| RecordProblem::Json(e.to_string()))?;
    let key = hash_bytes(&hash).ok_or_else(|| RecordProblem::Hash(hash.clone()))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(metrics.as_bytes())
        .map_err(|e| RecordProblem::Base64(e.to_string()))?;
    let m = ModelMetrics::decode(raw.as_slice()).map_err(|e| RecordProblem::Protobuf(e.to_string()))?;
    let last = m.evaluation_data.last().ok_or(RecordProblem::NoEvaluation)?;
    let params = m.trainable_parameters.ok_or(RecordProblem::NoParams)? as u64;
    let run = Run {
        train_time: last.training_time.unwrap_or(f64::NAN) as f32,
        train_acc: last.train_accuracy.unwrap_or(f64::NAN) as f32,
        valid_acc: last.validation_accuracy.unwrap_or(f64::NAN) as f32,
        test_acc: last.test_accuracy.unwrap_or(f64::NAN) as f32,
    };
    if let Some(p) = cells.get_mut(&key) {
        // Later records of a cell only add runs; what they say about the cell must agree.
        if p.params != params {
            return Err(RecordProblem::ParamsDisagree { hash, earlier: p.params, now: params });
        }
        let now = parse_cell(&adjacency, &operations)?;
        if now != p.cell {
            return Err(RecordProblem::CellDisagree { hash, earlier: p.cell.short(), now: now.short() });
        }
        p.runs.entry(epochs).or_default().push(run);
        return Ok(());
    }
    let cell = parse_cell(&adjacency, &operations)?;
    let computed = cell.module_hash();
    if computed != hash {
        return Err(RecordProblem::HashMismatch { stated: hash, computed });
    }
    cells.insert(key, Pending { cell, params, runs: BTreeMap::from([(epochs, vec![run])]) });
    Ok(())
}

/// The record's cell from its flattened matrix ("0110..." row by row) and comma-separated ops.
fn parse_cell(adjacency: &str, operations: &str) -> Result<Cell, RecordProblem> {
    let bad = || RecordProblem::Adjacency(adjacency.to_string());
    let n = (1..=MAX_VERTICES * 2).find(|n| n * n == adjacency.len()).ok_or_else(bad)?;
    let digits: Vec<i64> = adjacency
        .bytes()
        .map(|b| match b {
            b'0' => Ok(0),
            b'1' => Ok(1),
            _ => Err(bad()),
        })
        .collect::<Result<_, _>>()?;
    let matrix: Vec<Vec<i64>> = digits.chunks(n).map(<[i64]>::to_vec).collect();
    let ops: Vec<&str> = operations.split(',').collect();
    Ok(Cell::from_spec(&matrix, &ops)?)
}

/// An imported table, held as its bytes and queried in place.
#[derive(Debug, Clone)]
pub struct Nb101Table {
    bytes: Vec<u8>,
    cells: usize,
    budgets: Vec<u32>,
    repeats: usize,
    rows_at: usize,
    row_len: usize,
}

impl Nb101Table {
    pub fn open(path: &Path) -> Result<Self, TableError> {
        let bytes = std::fs::read(path).map_err(|source| TableError::Read { path: path.into(), source })?;
        Nb101Table::from_bytes(bytes, path)
    }

    /// Checks the header, the length and the checksum; `path` only names the source in errors.
    pub fn from_bytes(bytes: Vec<u8>, path: &Path) -> Result<Self, TableError> {
        if bytes.len() < HEADER_LEN || bytes[..8] != MAGIC {
            return Err(TableError::Magic { path: path.into() });
        }
        let word = |i: usize| u32::from_le_bytes(bytes[8 + 4 * i..12 + 4 * i].try_into().expect("4 bytes"));
        let version = word(0);
        if version != VERSION {
            return Err(TableError::Version { path: path.into(), found: version });
        }
        let (cells, nbudgets, repeats, crc) = (word(1) as usize, word(2) as usize, word(3) as usize, word(4));
        let row_len = FIXED_ROW + nbudgets.saturating_mul(repeats).saturating_mul(16);
        let rows_at = HEADER_LEN + 4 * nbudgets;
        let expected = cells.saturating_mul(row_len).saturating_add(rows_at);
        if bytes.len() != expected {
            return Err(TableError::Length { path: path.into(), len: bytes.len(), expected });
        }
        if crc32c::crc32c(&bytes[HEADER_LEN..]) != crc {
            return Err(TableError::Checksum { path: path.into() });
        }
        let budgets = (0..nbudgets)
            .map(|i| u32::from_le_bytes(bytes[HEADER_LEN + 4 * i..][..4].try_into().expect("4")))
            .collect();
        Ok(Nb101Table { bytes, cells, budgets, repeats, rows_at, row_len })
    }

    pub fn len(&self) -> usize {
        self.cells
    }

    pub fn is_empty(&self) -> bool {
        self.cells == 0
    }

    /// Epoch budgets the table holds, ascending.
    pub fn budgets(&self) -> &[u32] {
        &self.budgets
    }

    pub fn repeats(&self) -> usize {
        self.repeats
    }

    fn row(&self, i: usize) -> &[u8] {
        &self.bytes[self.rows_at + i * self.row_len..][..self.row_len]
    }

    /// The record of a module hash (32 hex digits), if the table has it.
    pub fn get(&self, hash: &str) -> Option<Result<CellRecord, TableError>> {
        let key = hash_bytes(hash)?;
        let (mut lo, mut hi) = (0, self.cells);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.row(mid)[..16].cmp(&key[..]) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.record(mid)),
            }
        }
        None
    }

    /// The record of a cell or any of its isomorphs.
    pub fn get_cell(&self, cell: &Cell) -> Option<Result<CellRecord, TableError>> {
        self.get(&cell.module_hash())
    }

    /// The record in row `i` (rows ascend by hash).
    pub fn record(&self, i: usize) -> Result<CellRecord, TableError> {
        let r = self.row(i);
        let hash = hash_hex(r[..16].try_into().expect("16 bytes"));
        let n = r[16] as usize;
        let corrupt = |reason: String| TableError::Row { path: PathBuf::new(), row: i, reason };
        if !(2..=MAX_VERTICES).contains(&n) {
            return Err(corrupt(format!("{n} vertices")));
        }
        let ops: Vec<Nb101Op> = r[24..24 + n - 2]
            .iter()
            .map(|&l| Nb101Op::from_label(l).ok_or_else(|| corrupt(format!("op label {l}"))))
            .collect::<Result<_, _>>()?;
        let cell = Cell::from_bits(n, &r[17..17 + n], &ops).map_err(|e| corrupt(e.to_string()))?;
        let params = u32::from_le_bytes(r[29..33].try_into().expect("4 bytes")) as u64;
        let mut budgets = vec![];
        for (b, &epochs) in self.budgets.iter().enumerate() {
            let mut runs = vec![];
            for k in 0..self.repeats {
                let at = FIXED_ROW + (b * self.repeats + k) * 16;
                let f = |j: usize| f32::from_le_bytes(r[at + 4 * j..at + 4 * j + 4].try_into().expect("4 bytes"));
                let run = Run { train_time: f(0), train_acc: f(1), valid_acc: f(2), test_acc: f(3) };
                if !run.values().iter().all(|x| x.is_nan()) {
                    runs.push(run);
                }
            }
            if !runs.is_empty() {
                budgets.push(BudgetRuns { epochs, runs });
            }
        }
        Ok(CellRecord { hash, cell, params, budgets })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Small TFRecord files written exactly as the benchmark's: framing with masked CRC32C, JSON
    //! array records, base64 ModelMetrics with three checkpoints (start, half-way, end).
    use super::*;
    use crate::nb101::metrics::EvaluationData;
    use crate::nb101::tfrecord::frame;

    pub const README_STORED: &str = "31m33:111100/00001/0001/001/10/1";
    const README_HASH: &str = "28cfc7874f6d200472e1a9dcd8650aa0";
    const SKIP_HASH: &str = "043721b9c7fe8c5fad811d47d83132ec";

    /// A ModelMetrics whose final checkpoint holds `end` = (time, train, valid, test).
    pub fn metrics_b64(params: i32, end: [f64; 4]) -> String {
        let eval = |frac: f64| EvaluationData {
            current_epoch: Some(108.0 * frac),
            training_time: Some(end[0] * frac),
            train_accuracy: Some(end[1] * frac),
            validation_accuracy: Some(end[2] * frac),
            test_accuracy: Some(end[3] * frac),
            checkpoint_path: None,
        };
        let m = ModelMetrics {
            evaluation_data: vec![eval(0.0), eval(0.5), eval(1.0)],
            trainable_parameters: Some(params),
            total_time: Some(end[0] + 100.0),
        };
        base64::engine::general_purpose::STANDARD.encode(m.encode_to_vec())
    }

    /// One record's data, as the benchmark serialises it.
    pub fn record(hash: &str, epochs: u32, cell: &Cell, metrics: &str) -> Vec<u8> {
        let adjacency: String = cell.matrix().iter().flatten().map(|&d| char::from(b'0' + d)).collect();
        serde_json::to_vec(&serde_json::json!([hash, epochs, adjacency, cell.op_names().join(","), metrics])).unwrap()
    }

    pub fn readme_run(k: usize) -> [f64; 4] {
        // Values a float32 holds exactly, as the benchmark's do.
        [1_155.853_027_343_75 + k as f64, 1.0, 0.9375 - k as f64 / 64.0, 0.921_875 - k as f64 / 128.0]
    }

    /// 8 records: the README cell 3× at 108 epochs and 2× at 36, the skip cell 3× at 108.
    pub fn sample_records() -> Vec<Vec<u8>> {
        let readme = Cell::parse(README_STORED).unwrap();
        let skip = Cell::parse(":1").unwrap();
        let mut out = vec![];
        for k in 0..3 {
            out.push(record(README_HASH, 108, &readme, &metrics_b64(2_694_282, readme_run(k))));
            out.push(record(SKIP_HASH, 108, &skip, &metrics_b64(882_570, [500.0, 0.5, 0.25, 0.125 * (k + 1) as f64])));
        }
        for k in 0..2 {
            out.push(record(README_HASH, 36, &readme, &metrics_b64(2_694_282, [300.0 + k as f64, 0.75, 0.5, 0.5])));
        }
        out
    }

    pub fn file(records: &[Vec<u8>]) -> Vec<u8> {
        records.iter().flat_map(|r| frame(r)).collect()
    }

    fn import_err(bytes: &[u8]) -> String {
        build(bytes, Path::new("t.tfrecord")).unwrap_err().to_string()
    }

    /// The file `crates/core/tests/fixtures/nb101-sample.tfrecord` holds exactly these records, so
    /// that the CLI's tests can import a real TFRecord file (OXNAS_WRITE_FIXTURES=1 rewrites it).
    #[test]
    fn the_checked_in_sample_file_is_these_records() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/nb101-sample.tfrecord");
        let bytes = file(&sample_records());
        if std::env::var_os("OXNAS_WRITE_FIXTURES").is_some() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn import_round_trip_and_query() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("nb101.tfrecord");
        std::fs::write(&src, file(&sample_records())).unwrap();
        let out = dir.path().join("nb101.bin");
        let s = import(&src, &out).unwrap();
        // 32 header + 2 budgets × 4 + 2 rows × (33 + 2 budgets × 3 repeats × 16).
        assert_eq!(s, ImportSummary { records: 8, cells: 2, budgets: vec![36, 108], repeats: 3, bytes: 298 });
        assert_eq!(std::fs::metadata(&out).unwrap().len(), 298);

        let t = Nb101Table::open(&out).unwrap();
        assert_eq!((t.len(), t.budgets(), t.repeats()), (2, &[36, 108][..], 3));
        let r = t.get(README_HASH).unwrap().unwrap();
        assert_eq!(r.hash, README_HASH);
        assert_eq!(r.cell.short(), README_STORED);
        assert_eq!(r.params, 2_694_282);
        let at108 = r.at(108).unwrap();
        assert_eq!(at108.runs.len(), 3);
        for (k, run) in at108.runs.iter().enumerate() {
            let v = readme_run(k);
            assert_eq!(run.values().map(f64::from), v, "repeat {k}");
        }
        // The 36-epoch budget has two repeats; the third slot is padding and not reported.
        assert_eq!(r.at(36).unwrap().runs.len(), 2);
        assert_eq!(r.at(36).unwrap().mean(|x| x.train_time), 300.5);
        let skip = t.get(SKIP_HASH).unwrap().unwrap();
        assert!(skip.at(36).is_none());
        assert_eq!(skip.at(108).unwrap().mean(|x| x.test_acc), 0.25);
        // The README's own spelling is an isomorph of the stored one: same key, same record.
        let readme = Cell::parse(crate::nb101::cell::tests::README_SHORT).unwrap();
        assert_eq!(t.get_cell(&readme).unwrap().unwrap(), r);
        assert!(t.get("00000000000000000000000000000000").is_none());
        assert!(t.get("not a hash").is_none());
        // Importing the same records in another order gives the same bytes except repeat order.
        let mut again = sample_records();
        again.swap(0, 1);
        let (bytes, _) = build(file(&again).as_slice(), Path::new("x")).unwrap();
        assert_eq!(bytes, std::fs::read(&out).unwrap());
    }

    #[test]
    fn damaged_files_name_the_record() {
        let good = file(&sample_records());
        let second = frame(&sample_records()[0]).len();
        let mut crc = good.clone();
        crc[second + 20] ^= 0x20;
        let e = import_err(&crc);
        assert!(e.starts_with("t.tfrecord: record 2 (byte"), "{e}");
        assert!(e.contains("data's CRC does not match"), "{e}");

        let e = import_err(&good[..good.len() - 7]);
        assert!(e.contains("record 8") && e.contains("truncated"), "{e}");

        let mut recs = sample_records();
        recs[1] = b"[\"043721b9c7fe8c5fad811d47d83132ec\", 108, \"0100\"".to_vec();
        let e = import_err(&file(&recs));
        assert!(e.starts_with("t.tfrecord: record 2: not the JSON array [hash, epochs, adjacency"), "{e}");

        let skip = Cell::parse(":1").unwrap();
        let mut recs = sample_records();
        recs[2] = record(SKIP_HASH, 108, &skip, "not*base64!");
        let e = import_err(&file(&recs));
        assert!(e.starts_with("t.tfrecord: record 3: the metrics field is not valid base64"), "{e}");

        recs[2] = record(SKIP_HASH, 108, &skip, "/////w==");
        let e = import_err(&file(&recs));
        assert!(e.starts_with("t.tfrecord: record 3: the metrics field is not a ModelMetrics protobuf"), "{e}");

        recs[2] = record(README_HASH, 108, &skip, &metrics_b64(882_570, [1.0; 4]));
        let e = import_err(&file(&recs));
        assert!(
            e.contains("record 3: an earlier record of 28cfc7874f6d200472e1a9dcd8650aa0 has 2694282 parameters"),
            "{e}"
        );

        let dense = Cell::parse("1m33m:100001/11000/0100/101/10/1").unwrap();
        recs[2] = record(SKIP_HASH.replace('0', "1").as_str(), 108, &dense, &metrics_b64(1, [1.0; 4]));
        let e = import_err(&file(&recs));
        assert!(e.contains("record 3: the record's hash 143721b9c7fe8c5fad811d47d83132ec does not match its cell, whose module hash is 737d0ee2cd766c29378cf6b2416aa9e6"), "{e}");

        let mut recs = sample_records();
        let bad_cell = serde_json::json!([
            "043721b9c7fe8c5fad811d47d83132ec",
            108,
            "0110",
            "input,output",
            metrics_b64(1, [1.0; 4])
        ]);
        recs[0] = serde_json::to_vec(&bad_cell).unwrap();
        let e = import_err(&file(&recs));
        assert!(e.contains("record 1: the cell is not valid: the matrix is not upper triangular"), "{e}");

        assert!(import_err(&[]).contains("no records"));
        let e = import(Path::new("/nonexistent/nb101.tfrecord"), Path::new("/tmp/x")).unwrap_err().to_string();
        assert!(e.starts_with("cannot read /nonexistent/nb101.tfrecord"), "{e}");
    }

    #[test]
    fn damaged_tables_are_refused() {
        let (bytes, _) = build(file(&sample_records()).as_slice(), Path::new("x")).unwrap();
        let p = Path::new("t.bin");
        assert!(Nb101Table::from_bytes(bytes.clone(), p).is_ok());
        let mut flipped = bytes.clone();
        flipped[100] ^= 1;
        assert!(matches!(Nb101Table::from_bytes(flipped, p), Err(TableError::Checksum { .. })));
        let e = Nb101Table::from_bytes(bytes[..bytes.len() - 1].to_vec(), p).unwrap_err().to_string();
        assert!(e.contains("297 bytes, but its header describes 298"), "{e}");
        let mut v2 = bytes.clone();
        v2[8] = 2;
        let e = Nb101Table::from_bytes(v2, p).unwrap_err().to_string();
        assert!(e.contains("version 2, this oxnas reads version 1"), "{e}");
        let e = Nb101Table::from_bytes(b"OXNB201\0xxxxxxxxxxxxxxxxxxxxxxxxxxxxx".to_vec(), p).unwrap_err().to_string();
        assert!(e.contains("bad magic") && e.contains("oxnas bench import nb101"), "{e}");
        let e = Nb101Table::open(Path::new("/nonexistent/t.bin")).unwrap_err().to_string();
        assert!(e.starts_with("cannot read /nonexistent/t.bin"), "{e}");
    }
}

#[cfg(test)]
mod scale {
    //! A size and speed measurement on a generated file, not a check (run by hand):
    //! `cargo test --release -p oxnas-core --lib nb101::table::scale -- --ignored --nocapture`
    //! (`NB101_SCALE_CELLS=300000` for a file closer to the official one's 423,624 cells).
    use super::tests::{metrics_b64, record};
    use super::*;
    use crate::nb101::tfrecord::frame;
    use rand::SeedableRng;

    #[test]
    #[ignore]
    fn import_and_query_at_scale() {
        let cells: usize = std::env::var("NB101_SCALE_CELLS").map_or(50_000, |v| v.parse().expect("a cell count"));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        let mut bytes = vec![];
        while seen.len() < cells {
            let c = crate::nb101::sample::sample_uniform(&mut rng);
            let h = c.module_hash();
            if seen.insert(h.clone()) {
                for k in 0..3 {
                    bytes.extend(frame(&record(&h, 108, &c, &metrics_b64(1000, [1.0, 1.0, 0.5, 0.25 + k as f64]))));
                }
            }
        }
        let some: Vec<Cell> = (0..2000).map(|_| crate::nb101::sample::sample_uniform(&mut rng)).collect();
        let t0 = std::time::Instant::now();
        let n: usize = some.iter().map(|c| c.module_hash().len()).sum();
        println!("module_hash {:.1} µs", t0.elapsed().as_secs_f64() * 1e6 / (n / 32) as f64);
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("in.tfrecord");
        std::fs::write(&src, &bytes).unwrap();
        let out = dir.path().join("out.bin");
        let t0 = std::time::Instant::now();
        let s = import(&src, &out).unwrap();
        let import_s = t0.elapsed().as_secs_f64();
        let t0 = std::time::Instant::now();
        let t = Nb101Table::open(&out).unwrap();
        let open_ms = t0.elapsed().as_secs_f64() * 1e3;
        let hashes: Vec<&String> = seen.iter().take(1000).collect();
        let t0 = std::time::Instant::now();
        for h in &hashes {
            assert!(t.get(h).unwrap().is_ok());
        }
        let query_us = t0.elapsed().as_secs_f64() * 1e6 / hashes.len() as f64;
        println!(
            "{cells} cells × 3 repeats: tfrecord {} bytes, import {import_s:.2} s, table {} bytes, open {open_ms:.1} ms, query {query_us:.1} µs",
            bytes.len(),
            s.bytes
        );
    }
}
