use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::OnceLock;

use super::report::{ColumnStats, QueryReport, StatsReport, TopEntry, TopReport};
use super::{compact, BenchError, Column};
use crate::nb201::Nb201Arch;

/// Number of NAS-Bench-201 cells: 5 ops on each of 6 edges.
pub const NUM_CELLS: usize = 15_625;

/// 100 % in micro-percent, the largest accuracy a table may hold.
pub(super) const MAX_MICROS: u32 = 100_000_000;

/// The full NAS-Bench-201 table: one row per cell, in NAS-Bench-201 index order.
///
/// Accuracies are held per column as a sorted list of distinct values plus, per row, the slot of
/// its value in that list. That is the decoded form of the asset as is, and with a prefix sum of
/// slot counts, ranks and percentiles become O(1) lookups; plain `u32` rows would take about the
/// same memory but need a sorted copy of every column (or a scan) per rank.
///
/// Every field is a deterministic function of the CSV's rows (class ids are numbered by first
/// appearance), so the derived `PartialEq` is equality of the tables' contents.
#[derive(Clone, PartialEq, Eq)]
pub struct Nb201Table {
    /// Row i's cell as a base-5 number, ops[0] the most significant digit (see [`arch_code`]).
    pub(super) codes: Vec<u16>,
    /// The inverse of `codes`, so looking up an arch is one array access.
    pub(super) row_of_code: Vec<u16>,
    /// Isomorphism class of each row, numbered by first appearance in index order.
    pub(super) class_of: Vec<u16>,
    /// Rows of class c, ascending: `class_rows[class_start[c]..class_start[c + 1]]`.
    pub(super) class_rows: Vec<usize>,
    pub(super) class_start: Vec<u32>,
    /// The unique_str of class c: `unique_text[unique_start[c]..unique_start[c + 1]]`.
    pub(super) unique_text: String,
    pub(super) unique_start: Vec<u32>,
    /// One entry per [`Column::ALL`], in that order.
    pub(super) columns: Vec<ColumnData>,
}

#[derive(Clone, PartialEq, Eq)]
pub(super) struct ColumnData {
    /// The column's distinct values in micro-percent, strictly ascending.
    pub(super) distinct: Vec<u32>,
    /// Per row, the position of its value in `distinct`.
    pub(super) slot: Vec<u16>,
    /// `below[k]` = number of rows whose value is smaller than `distinct[k]`; `below[len] = rows`.
    pub(super) below: Vec<u32>,
}

/// The parts of a table that are stored; everything else is derived by [`Nb201Table::assemble`].
pub(super) struct Parts {
    pub(super) codes: Vec<u16>,
    pub(super) class_of: Vec<u16>,
    pub(super) unique_text: String,
    pub(super) unique_start: Vec<u32>,
    /// Per column: (distinct values ascending, slot per row).
    pub(super) columns: Vec<(Vec<u32>, Vec<u16>)>,
}

/// One row of the table.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    table: &'a Nb201Table,
    index: usize,
}

impl Nb201Table {
    /// The table compiled into oxnas, decoded on first use (a few milliseconds) and shared after.
    pub fn embedded() -> &'static Nb201Table {
        static TABLE: OnceLock<Nb201Table> = OnceLock::new();
        TABLE.get_or_init(|| {
            // The asset is part of the binary and the tests decode it, so a failure here is a
            // broken build rather than bad input; there is nothing a caller could do about it.
            compact::decode(compact::ASSET)
                .unwrap_or_else(|e| panic!("the embedded NAS-Bench-201 table does not decode: {e}"))
        })
    }

    /// Loads `nb201_accuracies.csv`: a header ([`Column::csv_header`]), then one row per cell in
    /// NAS-Bench-201 index order: the index, the arch string, its isomorphism-class id, and the nine
    /// accuracy columns of [`Column::ALL`] in percent with six decimals.
    pub fn from_csv_path(path: &Path) -> Result<Self, BenchError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BenchError::Io { path: path.to_path_buf(), source })?;
        Self::from_csv_str(&text)
    }

    /// Parses the CSV text. All 15,625 rows must be present, in index order, each cell once.
    pub fn from_csv_str(text: &str) -> Result<Self, BenchError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
        // A final newline leaves one empty piece behind; it is not a row.
        if lines.last() == Some(&"") {
            lines.pop();
        }
        let header = lines.first().copied().unwrap_or("");
        check_header(header)?;

        let data = &lines[1.min(lines.len())..];
        if data.len() != NUM_CELLS {
            return Err(BenchError::CsvRowCount { found: data.len(), expected: NUM_CELLS });
        }
        let mut codes = Vec::with_capacity(NUM_CELLS);
        let mut first_line_of_code = vec![0usize; NUM_CELLS];
        let mut class_of = Vec::with_capacity(NUM_CELLS);
        let mut class_ids: HashMap<&str, u16> = HashMap::new();
        let mut unique_text = String::new();
        let mut unique_start = vec![0u32];
        let mut values: Vec<Vec<u32>> = vec![Vec::with_capacity(NUM_CELLS); Column::ALL.len()];

        for (row, line_text) in data.iter().enumerate() {
            let line = row + 2;
            let fields: Vec<&str> = line_text.split(',').collect();
            let expected = 3 + Column::ALL.len();
            if fields.len() != expected {
                return Err(BenchError::CsvFieldCount { line, found: fields.len(), expected });
            }
            if fields[0].parse::<usize>() != Ok(row) {
                return Err(BenchError::CsvIndex { line, found: fields[0].to_string(), expected: row });
            }
            let arch = parse_arch(fields[1]).map_err(|reason| BenchError::CsvArch {
                line,
                text: fields[1].to_string(),
                reason,
            })?;
            let code = arch_code(&arch);
            if first_line_of_code[code] != 0 {
                return Err(BenchError::CsvDuplicateArch {
                    line,
                    arch: fields[1].to_string(),
                    first_line: first_line_of_code[code],
                });
            }
            first_line_of_code[code] = line;
            codes.push(code as u16);

            let unique = fields[2];
            if unique.is_empty() {
                return Err(BenchError::CsvUniqueStr { line });
            }
            let next_id = class_ids.len() as u16;
            let id = *class_ids.entry(unique).or_insert_with(|| {
                unique_text.push_str(unique);
                unique_start.push(unique_text.len() as u32);
                next_id
            });
            class_of.push(id);

            for (c, column) in Column::ALL.into_iter().enumerate() {
                let text = fields[3 + c];
                let v = parse_micros(text).map_err(|reason| BenchError::CsvValue {
                    line,
                    column: column.name(),
                    text: text.to_string(),
                    reason,
                })?;
                values[c].push(v);
            }
        }

        let columns = values
            .into_iter()
            .map(|col| {
                let mut distinct = col.clone();
                distinct.sort_unstable();
                distinct.dedup();
                // Every value is in `distinct`, and there are at most NUM_CELLS < 2^16 of them.
                let slot = col.iter().map(|v| distinct.partition_point(|d| d < v) as u16).collect();
                (distinct, slot)
            })
            .collect();
        Self::assemble(Parts { codes, class_of, unique_text, unique_start, columns })
    }

    /// Decodes the compact form written by [`Nb201Table::to_compact`].
    pub fn from_compact(bytes: &[u8]) -> Result<Self, BenchError> {
        compact::decode(bytes)
    }

    /// The compact binary form (see [`compact`] for the layout).
    pub fn to_compact(&self) -> Vec<u8> {
        compact::encode(self)
    }

    /// Writes the table as CSV, byte-identical to the file it was loaded from.
    pub fn write_csv<W: Write>(&self, mut w: W) -> io::Result<()> {
        writeln!(w, "{}", Column::csv_header())?;
        for row in self.rows() {
            write!(w, "{},{},{}", row.index, row.arch_str(), row.unique_str())?;
            for c in Column::ALL {
                write!(w, ",{}", micros_text(row.micros(c)))?;
            }
            writeln!(w)?;
        }
        Ok(())
    }

    /// [`Nb201Table::write_csv`] into a string.
    pub fn to_csv_string(&self) -> String {
        let mut out = Vec::with_capacity(4 << 20);
        self.write_csv(&mut out).expect("writing to a Vec cannot fail");
        String::from_utf8(out).expect("the table holds only UTF-8 text")
    }

    /// Checks stored parts and derives the lookup structures. Decoded bytes pass through here
    /// too, so nothing may be trusted: any inconsistency is an error, never a panic.
    pub(super) fn assemble(parts: Parts) -> Result<Self, BenchError> {
        let bad = |m: String| Err(BenchError::Inconsistent(m));
        let Parts { codes, class_of, unique_text, unique_start, columns } = parts;
        let n = NUM_CELLS;
        if codes.len() != n || class_of.len() != n {
            return bad(format!("{} archs and {} class ids for {n} cells", codes.len(), class_of.len()));
        }

        let mut row_of_code = vec![u16::MAX; n];
        for (row, &code) in codes.iter().enumerate() {
            let code = code as usize;
            if code >= n {
                return bad(format!("row {row} has arch code {code}, above {}", n - 1));
            }
            if row_of_code[code] != u16::MAX {
                return bad(format!("rows {} and {row} hold the same arch", row_of_code[code]));
            }
            row_of_code[code] = row as u16;
        }

        // Requiring first-appearance numbering keeps one encoding per table, so equal tables
        // compare equal and re-encode to the same bytes.
        let mut counts: Vec<u32> = Vec::new();
        for (row, &c) in class_of.iter().enumerate() {
            match (c as usize).cmp(&counts.len()) {
                std::cmp::Ordering::Less => counts[c as usize] += 1,
                std::cmp::Ordering::Equal => counts.push(1),
                std::cmp::Ordering::Greater => {
                    return bad(format!("row {row} has class {c} before class {} appeared", counts.len()))
                }
            }
        }
        let classes = counts.len();
        let mut class_start = Vec::with_capacity(classes + 1);
        class_start.push(0u32);
        for &k in &counts {
            class_start.push(class_start.last().unwrap() + k);
        }
        let mut fill: Vec<usize> = class_start[..classes].iter().map(|&s| s as usize).collect();
        let mut class_rows = vec![0usize; n];
        for (row, &c) in class_of.iter().enumerate() {
            class_rows[fill[c as usize]] = row;
            fill[c as usize] += 1;
        }

        if unique_start.len() != classes + 1
            || unique_start[0] != 0
            || *unique_start.last().unwrap() as usize != unique_text.len()
        {
            return bad(format!(
                "{} unique strings for {classes} isomorphism classes",
                unique_start.len().saturating_sub(1)
            ));
        }
        let mut seen = HashSet::with_capacity(classes);
        for w in unique_start.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if a >= b || !unique_text.is_char_boundary(a) || !unique_text.is_char_boundary(b) {
                return bad("a unique string is empty or splits a UTF-8 character".into());
            }
            if !seen.insert(&unique_text[a..b]) {
                return bad(format!("unique string `{}` names two classes", &unique_text[a..b]));
            }
        }

        if columns.len() != Column::ALL.len() {
            return bad(format!("{} accuracy columns, expected {}", columns.len(), Column::ALL.len()));
        }
        let mut data = Vec::with_capacity(columns.len());
        for (column, (distinct, slot)) in Column::ALL.into_iter().zip(columns) {
            if distinct.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("{column}: distinct values are not strictly ascending"));
            }
            if distinct.last().is_some_and(|&v| v > MAX_MICROS) {
                return bad(format!("{column}: an accuracy is above 100%"));
            }
            if slot.len() != n {
                return bad(format!("{column}: {} values for {n} cells", slot.len()));
            }
            let mut count = vec![0u32; distinct.len()];
            for &s in &slot {
                match count.get_mut(s as usize) {
                    Some(k) => *k += 1,
                    None => return bad(format!("{column}: value slot {s} is out of range")),
                }
            }
            if count.contains(&0) {
                return bad(format!("{column}: a distinct value is used by no cell"));
            }
            let mut below = Vec::with_capacity(distinct.len() + 1);
            below.push(0u32);
            for k in count {
                below.push(below.last().unwrap() + k);
            }
            data.push(ColumnData { distinct, slot, below });
        }

        Ok(Nb201Table {
            codes,
            row_of_code,
            class_of,
            class_rows,
            class_start,
            unique_text,
            unique_start,
            columns: data,
        })
    }

    /// Always [`NUM_CELLS`]: a table cannot be built with cells missing.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Always false; present because `len` is.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    pub fn columns(&self) -> &'static [Column] {
        &Column::ALL
    }

    pub fn get(&self, index: usize) -> Option<RowRef<'_>> {
        (index < self.len()).then_some(RowRef { table: self, index })
    }

    /// All rows in index order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = RowRef<'_>> + '_ {
        (0..self.len()).map(move |index| RowRef { table: self, index })
    }

    /// The NAS-Bench-201 index of a cell. Infallible: every one of the 5^6 cells is in the table.
    pub fn index_of(&self, arch: &Nb201Arch) -> usize {
        self.row_of_code[arch_code(arch)] as usize
    }

    pub fn arch(&self, index: usize) -> Option<Nb201Arch> {
        self.get(index).map(|r| r.arch())
    }

    /// Accuracy in percent.
    pub fn value(&self, index: usize, column: Column) -> Option<f64> {
        self.get(index).map(|r| r.value(column))
    }

    /// Accuracy in micro-percent, exactly as the CSV has it.
    pub fn micros(&self, index: usize, column: Column) -> Option<u32> {
        self.get(index).map(|r| r.micros(column))
    }

    /// Competition rank ("1224" ranking): 1 + the number of cells with a strictly higher value,
    /// so tied cells share a rank and the next distinct value skips the tied places.
    pub fn rank(&self, index: usize, column: Column) -> Option<usize> {
        self.get(index).map(|r| r.rank(column))
    }

    /// Percentage of the *other* cells with a strictly lower value: 100 for a unique best cell,
    /// 0 for the worst (and for everything tied with it).
    pub fn percentile(&self, index: usize, column: Column) -> Option<f64> {
        self.get(index).map(|r| r.percentile(column))
    }

    /// Indices of the `k` best cells on `column`, best first; ties go to the lower index.
    pub fn top(&self, column: Column, k: usize) -> Vec<usize> {
        let slot = &self.columns[column.position()].slot;
        let key = |&i: &usize| (std::cmp::Reverse(slot[i]), i);
        let mut idx: Vec<usize> = (0..self.len()).collect();
        let k = k.min(idx.len());
        if k < idx.len() && k > 0 {
            idx.select_nth_unstable_by_key(k - 1, key);
        }
        idx.truncate(k);
        idx.sort_unstable_by_key(key);
        idx
    }

    /// [`Nb201Table::top`] with values and arch strings, ready to print or serialise.
    pub fn top_report(&self, column: Column, k: usize) -> TopReport {
        let entries = self
            .top(column, k)
            .into_iter()
            .map(|i| {
                let row = RowRef { table: self, index: i };
                TopEntry { rank: row.rank(column), index: i, arch_str: row.arch_str(), value: row.value(column) }
            })
            .collect();
        TopReport { column, entries }
    }

    /// Summary statistics of every column.
    pub fn stats(&self) -> StatsReport {
        StatsReport {
            cells: self.len(),
            iso_classes: self.num_classes(),
            columns: Column::ALL.into_iter().map(|c| self.column_stats(c)).collect(),
        }
    }

    /// Min, max, mean, median, population standard deviation and the best cell of one column.
    pub fn column_stats(&self, column: Column) -> ColumnStats {
        let d = &self.columns[column.position()];
        let n = self.len();
        let pct = |m: u32| m as f64 / 1e6;
        // Integer sum: exact, and the order of summation cannot change the printed mean.
        let sum: u64 = d.slot.iter().map(|&s| d.distinct[s as usize] as u64).sum();
        let mean = sum as f64 / n as f64 / 1e6;
        let var = d.slot.iter().map(|&s| (pct(d.distinct[s as usize]) - mean).powi(2)).sum::<f64>() / n as f64;
        let at_sorted = |p: usize| pct(d.distinct[d.below.partition_point(|&b| b as usize <= p) - 1]);
        let median = (at_sorted((n - 1) / 2) + at_sorted(n / 2)) / 2.0;
        let top = (d.distinct.len() - 1) as u16;
        let argmax = d.slot.iter().position(|&s| s == top).unwrap_or(0);
        ColumnStats {
            column,
            min: pct(d.distinct[0]),
            max: pct(*d.distinct.last().unwrap()),
            mean,
            median,
            std: var.sqrt(),
            distinct_values: d.distinct.len(),
            argmax,
            argmax_arch_str: arch_string(&arch_from_code(self.codes[argmax] as usize)),
        }
    }

    /// Number of isomorphism classes (6,466 for NAS-Bench-201).
    pub fn num_classes(&self) -> usize {
        self.class_start.len() - 1
    }

    /// Isomorphism class id of a cell; ids are numbered by first appearance in index order.
    pub fn class_of(&self, index: usize) -> Option<usize> {
        self.class_of.get(index).map(|&c| c as usize)
    }

    /// The cells of one isomorphism class, ascending.
    pub fn class_members(&self, class: usize) -> Option<&[usize]> {
        let (a, b) = (*self.class_start.get(class)?, *self.class_start.get(class + 1)?);
        Some(&self.class_rows[a as usize..b as usize])
    }

    /// The NATS-Bench unique_str shared by the members of a class.
    pub fn class_unique_str(&self, class: usize) -> Option<&str> {
        let (a, b) = (*self.unique_start.get(class)?, *self.unique_start.get(class + 1)?);
        Some(&self.unique_text[a as usize..b as usize])
    }

    /// Turns a command-line query, a cell index or an arch string, into an index.
    pub fn resolve(&self, query: &str) -> Result<usize, BenchError> {
        let q = query.trim();
        let fail = |reason: &str| BenchError::BadQuery { text: query.to_string(), reason: reason.to_string() };
        if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) {
            return match q.parse::<usize>() {
                Ok(i) if i < self.len() => Ok(i),
                _ => Err(fail(&format!("index is above {}", self.len() - 1))),
            };
        }
        if q.starts_with('|') {
            return parse_arch(q).map(|a| self.index_of(&a)).map_err(|r| fail(&r));
        }
        Err(fail("expected digits or a string starting with `|`"))
    }

    /// [`Nb201Table::resolve`] then [`RowRef::report`].
    pub fn query(&self, query: &str) -> Result<QueryReport, BenchError> {
        let index = self.resolve(query)?;
        Ok(RowRef { table: self, index }.report())
    }

    /// Bytes this table holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let cols: usize = self
            .columns
            .iter()
            .map(|c| c.distinct.capacity() * 4 + c.slot.capacity() * 2 + c.below.capacity() * 4)
            .sum();
        (self.codes.capacity() + self.row_of_code.capacity() + self.class_of.capacity()) * 2
            + self.class_rows.capacity() * size_of::<usize>()
            + (self.class_start.capacity() + self.unique_start.capacity()) * 4
            + self.unique_text.capacity()
            + self.columns.capacity() * size_of::<ColumnData>()
            + cols
    }
}

// The derived form would print every row of the table.
impl fmt::Debug for Nb201Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nb201Table")
            .field("cells", &self.len())
            .field("iso_classes", &self.num_classes())
            .finish_non_exhaustive()
    }
}

impl<'a> RowRef<'a> {
    pub fn index(&self) -> usize {
        self.index
    }

    pub fn arch(&self) -> Nb201Arch {
        arch_from_code(self.table.codes[self.index] as usize)
    }

    /// The NAS-Bench-201 arch string, e.g. `|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|...|`.
    pub fn arch_str(&self) -> String {
        arch_string(&self.arch())
    }

    /// The NATS-Bench canonical form up to isomorphism.
    pub fn unique_str(&self) -> &'a str {
        let c = self.iso_class();
        let (a, b) = (self.table.unique_start[c], self.table.unique_start[c + 1]);
        &self.table.unique_text[a as usize..b as usize]
    }

    pub fn iso_class(&self) -> usize {
        self.table.class_of[self.index] as usize
    }

    /// Number of cells isomorphic to this one, itself included.
    pub fn iso_class_size(&self) -> usize {
        let c = self.iso_class();
        (self.table.class_start[c + 1] - self.table.class_start[c]) as usize
    }

    pub fn micros(&self, column: Column) -> u32 {
        let d = &self.table.columns[column.position()];
        d.distinct[d.slot[self.index] as usize]
    }

    /// Accuracy in percent.
    pub fn value(&self, column: Column) -> f64 {
        self.micros(column) as f64 / 1e6
    }

    /// The value as the CSV writes it, with exactly 6 decimals.
    pub fn value_text(&self, column: Column) -> String {
        micros_text(self.micros(column))
    }

    /// See [`Nb201Table::rank`].
    pub fn rank(&self, column: Column) -> usize {
        let d = &self.table.columns[column.position()];
        let s = d.slot[self.index] as usize;
        1 + self.table.len() - d.below[s + 1] as usize
    }

    /// See [`Nb201Table::percentile`].
    pub fn percentile(&self, column: Column) -> f64 {
        let d = &self.table.columns[column.position()];
        let worse = d.below[d.slot[self.index] as usize] as f64;
        100.0 * worse / (self.table.len() - 1) as f64
    }

    /// Everything the table knows about this cell, for `oxnas bench query`.
    pub fn report(&self) -> QueryReport {
        QueryReport::new(self)
    }
}

impl fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowRef").field("index", &self.index).field("arch", &self.arch_str()).finish()
    }
}

/// A cell as a dense id in 0..5^6 (its base-5 code), the key of the lookup array.
pub(super) fn arch_code(arch: &Nb201Arch) -> usize {
    arch.code() as usize
}

pub(super) fn arch_from_code(code: usize) -> Nb201Arch {
    // Table codes are checked to be below 5^6 when the table is assembled.
    Nb201Arch::enumerate_base5(code).expect("table arch codes are validated on load")
}

pub(super) fn arch_string(arch: &Nb201Arch) -> String {
    arch.to_string()
}

pub(super) fn parse_arch(text: &str) -> Result<Nb201Arch, String> {
    text.parse::<Nb201Arch>().map_err(|e| e.to_string())
}

/// Micro-percent as the CSV writes it: integer part, then exactly 6 decimals.
pub(super) fn micros_text(m: u32) -> String {
    format!("{}.{:06}", m / 1_000_000, m % 1_000_000)
}

/// Parses a CSV accuracy exactly; binary floats could not promise to print back the same text.
fn parse_micros(text: &str) -> Result<u32, String> {
    let (int, frac) = match text.split_once('.') {
        Some((_, "")) => return Err("no digits after the decimal point".into()),
        Some(parts) => parts,
        None => (text, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !(frac.is_empty() || digits(frac)) {
        return Err("not a plain non-negative decimal number".into());
    }
    if frac.len() > 6 {
        return Err("more than 6 decimals would be rounded away".into());
    }
    let int: u64 = int.parse().map_err(|_| "above 100".to_string())?;
    let frac_micros =
        if frac.is_empty() { 0 } else { frac.parse::<u64>().unwrap_or(0) * 10u64.pow(6 - frac.len() as u32) };
    let m = int.saturating_mul(1_000_000).saturating_add(frac_micros);
    if m > MAX_MICROS as u64 {
        return Err("above 100".into());
    }
    Ok(m as u32)
}

fn check_header(header: &str) -> Result<(), BenchError> {
    let expected = Column::csv_header();
    if header == expected {
        return Ok(());
    }
    let want: Vec<&str> = expected.split(',').collect();
    let got: Vec<&str> = header.split(',').collect();
    let missing: Vec<&str> = want.iter().copied().filter(|w| !got.contains(w)).collect();
    let unexpected: Vec<&str> = got.iter().copied().filter(|g| !want.contains(g)).collect();
    let mut detail = String::new();
    if header.is_empty() {
        detail.push_str(", but the file is empty");
    } else {
        if !missing.is_empty() {
            detail.push_str(&format!(", but it lacks {}", missing.join(", ")));
        }
        if !unexpected.is_empty() {
            detail.push_str(&format!(", but it has unexpected `{}`", unexpected.join("`, `")));
        }
        if missing.is_empty() && unexpected.is_empty() {
            detail.push_str(", but the columns are out of order or repeated");
        }
    }
    Err(BenchError::CsvHeader { detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb201::Nb201Op;
    use std::path::PathBuf;
    use std::time::Instant;

    const ALL_SKIP: &str =
        "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
    const ALL_NONE: &str = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|";

    fn t() -> &'static Nb201Table {
        Nb201Table::embedded()
    }

    fn shared_csv() -> Option<PathBuf> {
        let p = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/nasbench201/nb201_accuracies.csv"
        ));
        if p.exists() {
            Some(p)
        } else {
            eprintln!("skip: {} is absent, so the embedded table is not compared with it", p.display());
            None
        }
    }

    #[test]
    fn embedded_equals_the_shared_csv_in_every_row_and_column() {
        let Some(path) = shared_csv() else { return };
        let csv = Nb201Table::from_csv_path(&path).unwrap();
        assert_eq!(&csv, t());
        // Compare on the CSV text itself, which covers arch strings, unique strings, ordering and
        // every value's 6-decimal rendering independently of the internal layout.
        let source = std::fs::read_to_string(&path).unwrap();
        let written = t().to_csv_string();
        for (i, (a, b)) in source.lines().zip(written.lines()).enumerate() {
            assert_eq!(a, b, "line {} differs", i + 1);
        }
        assert_eq!(source, written);
        assert_eq!(
            csv.to_compact(),
            compact::ASSET,
            "re-encoding the CSV gives different bytes than the asset; if flate2 changed its \
             output, regenerate the asset (see bench/compact.rs)"
        );
    }

    #[test]
    fn all_skip_cell_is_the_darts_collapse() {
        let i = t().resolve(ALL_SKIP).unwrap();
        assert_eq!(i, 1835);
        let row = t().get(i).unwrap();
        assert_eq!(row.arch_str(), ALL_SKIP);
        assert!(row.arch().ops.iter().all(|&o| o == Nb201Op::SkipConnect));
        let want = [54.2967, 15.6067, 16.3222];
        for (c, w) in Column::TEST_200EP.into_iter().zip(want) {
            assert!((row.value(c) - w).abs() < 1e-4, "{c}: {}", row.value(c));
        }
        assert_eq!(row.value_text(Column::Cifar10Test200ep), "54.296667");
    }

    #[test]
    fn column_optima_match_the_published_ones() {
        for (c, idx, text) in [
            (Column::Cifar10Test200ep, 6111, "94.373333"),
            (Column::Cifar100Test200ep, 9930, "73.513333"),
            (Column::ImageNet16Test200ep, 857, "47.311111"),
        ] {
            let s = t().column_stats(c);
            assert_eq!(s.argmax, idx, "{c}");
            assert_eq!(micros_text((s.max * 1e6).round() as u32), text);
            assert_eq!(t().get(idx).unwrap().value_text(c), text);
            assert_eq!(t().rank(idx, c), Some(1));
            assert_eq!(t().top(c, 1), vec![idx]);
            assert_eq!(s.argmax_arch_str, t().get(idx).unwrap().arch_str());
        }
        assert_eq!(
            t().get(6111).unwrap().arch_str(),
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
        );
    }

    #[test]
    fn all_none_cell_is_at_chance_and_near_the_bottom() {
        let i = t().resolve(ALL_NONE).unwrap();
        assert_eq!(i, 1651);
        let row = t().get(i).unwrap();
        let texts: Vec<String> = Column::TEST_200EP.into_iter().map(|c| row.value_text(c)).collect();
        assert_eq!(texts, ["10.000000", "1.000000", "0.833333"]);
        for c in Column::TEST_200EP {
            assert_eq!(row.micros(c), t().columns[c.position()].distinct[0], "{c}: not the minimum");
            assert!(row.rank(c) > t().len() * 9 / 10, "{c}: rank {}", row.rank(c));
            assert_eq!(row.percentile(c), 0.0);
        }
    }

    #[test]
    fn iso_classes_partition_the_cells() {
        assert_eq!(t().num_classes(), 6466);
        let mut seen = vec![false; t().len()];
        for c in 0..t().num_classes() {
            let members = t().class_members(c).unwrap();
            assert!(!members.is_empty());
            assert!(members.windows(2).all(|w| w[0] < w[1]));
            for &m in members {
                assert!(!seen[m]);
                seen[m] = true;
                assert_eq!(t().class_of(m), Some(c));
                assert_eq!(t().get(m).unwrap().unique_str(), t().class_unique_str(c).unwrap());
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(t().class_members(6466), None);
        assert_eq!(t().class_of(NUM_CELLS), None);
    }

    #[test]
    fn ranks_form_a_competition_ranking_on_every_column() {
        for c in Column::ALL {
            let mut order: Vec<(u32, usize)> = t().rows().map(|r| (r.micros(c), r.rank(c))).collect();
            order.sort_by_key(|o| std::cmp::Reverse(o.0));
            for (pos, &(v, rank)) in order.iter().enumerate() {
                if pos > 0 && v == order[pos - 1].0 {
                    assert_eq!(rank, order[pos - 1].1, "{c}: tie at {pos} got a different rank");
                } else {
                    assert_eq!(rank, pos + 1, "{c}: first of a value at {pos}");
                }
            }
            let worse = order.iter().filter(|o| o.0 < order[0].0).count();
            assert_eq!(t().percentile(t().top(c, 1)[0], c), Some(100.0 * worse as f64 / (t().len() - 1) as f64));
        }
    }

    #[test]
    fn top_is_sorted_by_value_then_index() {
        let c = Column::Cifar100Valid12ep;
        let all = t().top(c, usize::MAX);
        assert_eq!(all.len(), NUM_CELLS);
        for w in all.windows(2) {
            let (a, b) = (t().micros(w[0], c).unwrap(), t().micros(w[1], c).unwrap());
            assert!(a > b || (a == b && w[0] < w[1]), "{w:?}");
        }
        for k in [0, 1, 7, 100] {
            assert_eq!(t().top(c, k), all[..k]);
        }
        let report = t().top_report(c, 3);
        assert_eq!(report.entries.iter().map(|e| e.index).collect::<Vec<_>>(), all[..3]);
        assert_eq!(report.entries[0].rank, 1);
    }

    #[test]
    fn stats_agree_with_a_direct_computation() {
        for c in Column::ALL {
            let mut v: Vec<f64> = t().rows().map(|r| r.value(c)).collect();
            let s = t().column_stats(c);
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            v.sort_by(f64::total_cmp);
            assert_eq!(s.min, v[0]);
            assert_eq!(s.max, v[v.len() - 1]);
            assert_eq!(s.median, v[v.len() / 2]);
            assert!((s.mean - mean).abs() < 1e-9 && (s.std - std).abs() < 1e-9, "{c}");
            assert_eq!(t().value(s.argmax, c), Some(s.max));
            assert!((0..s.argmax).all(|i| t().value(i, c) < Some(s.max)), "{c}: argmax not the first");
        }
    }

    #[test]
    fn index_of_and_arch_invert_each_other_for_all_cells() {
        for i in 0..NUM_CELLS {
            let arch = t().arch(i).unwrap();
            assert_eq!(t().index_of(&arch), i);
            assert_eq!(parse_arch(&arch_string(&arch)), Ok(arch));
            assert_eq!(arch_from_code(arch_code(&arch)), arch);
        }
        assert!(t().get(NUM_CELLS).is_none() && t().value(NUM_CELLS, Column::Cifar10Test12ep).is_none());
    }

    #[test]
    fn nb201_module_agrees_with_the_table_on_index_order_and_isomorphism() {
        // nb201 derives index order and unique_str without the table; the table is ground truth.
        for i in 0..NUM_CELLS {
            let arch = Nb201Arch::from_index(i).unwrap();
            assert_eq!(Some(arch), t().arch(i), "index {i}");
            assert_eq!(arch.to_index(), i);
            assert_eq!(arch.unique_str(), t().get(i).unwrap().unique_str(), "index {i}");
        }
    }

    #[test]
    fn resolve_accepts_indices_and_arch_strings_and_explains_rejects() {
        assert_eq!(t().resolve(" 42 ").unwrap(), 42);
        assert_eq!(t().resolve("15624").unwrap(), 15624);
        for (bad, why) in [
            ("15625", "above 15624"),
            ("-1", "expected digits"),
            ("", "expected digits"),
            ("|skip_connect~0|+|bogus~0|none~1|+|none~0|none~1|none~2|", "unknown op 'bogus' on edge 2<-0"),
            ("|skip_connect~0|+|none~0|none~1|", "2 node segment"),
            ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "input 1 of node 1 is out of range"),
            ("99999999999999999999999", "above"),
        ] {
            let msg = t().resolve(bad).unwrap_err().to_string();
            assert!(msg.contains(why), "{bad:?}: {msg}");
        }
    }

    fn csv_with(edit: impl FnOnce(&mut Vec<String>)) -> String {
        let mut lines: Vec<String> = t().to_csv_string().lines().map(str::to_string).collect();
        edit(&mut lines);
        lines.join("\n") + "\n"
    }

    #[test]
    fn csv_round_trips_through_text() {
        let text = t().to_csv_string();
        assert_eq!(&Nb201Table::from_csv_str(&text).unwrap(), t());
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(&Nb201Table::from_csv_str(&crlf).unwrap(), t());
        // Row 0 sits on line 2, i.e. l[1].
        let loose = csv_with(|l| l[1] = l[1].replace("85.863333", "85.86333"));
        assert_eq!(Nb201Table::from_csv_str(&loose).unwrap().micros(0, Column::Cifar10Test200ep), Some(85_863_330));
    }

    #[test]
    fn csv_errors_name_the_line_and_problem() {
        let cases: Vec<(String, &str)> = vec![
            (csv_with(|l| l[0] = l[0].replace(",cifar100_test_12ep", "")), "lacks cifar100_test_12ep"),
            (csv_with(|l| l[0] = l[0].replace("index", "idx")), "unexpected `idx`"),
            (String::new(), "file is empty"),
            (csv_with(|l| l[4] = l[4].rsplit_once(',').unwrap().0.to_string()), "line 5: 11 comma-separated fields"),
            (csv_with(|l| l[9] = l[9].replacen("8,", "x,", 1)), "line 10: index `x` should be 8"),
            (csv_with(|l| l.swap(3, 4)), "line 4: index `3` should be 2"),
            (csv_with(|l| l[6] = l[6].replacen("~0|", "~3|", 1)), "line 7: bad arch string"),
            (csv_with(|l| l.truncate(9000)), "8999 data rows, expected 15625"),
            (
                csv_with(|l| {
                    let arch = l[2].split(',').nth(1).unwrap().to_string();
                    let mut f: Vec<String> = l[3].split(',').map(str::to_string).collect();
                    f[1] = arch;
                    l[3] = f.join(",");
                }),
                "line 4: arch",
            ),
            (
                csv_with(|l| {
                    let mut f: Vec<&str> = l[12].split(',').collect();
                    f[5] = "7.5e1";
                    l[12] = f.join(",");
                }),
                "line 13, column imagenet16_120_test_200ep: bad accuracy `7.5e1`",
            ),
            (
                csv_with(|l| {
                    let mut f: Vec<&str> = l[20].split(',').collect();
                    f[11] = "100.000001";
                    l[20] = f.join(",");
                }),
                "above 100",
            ),
            (
                csv_with(|l| {
                    let mut f: Vec<&str> = l[30].split(',').collect();
                    f[2] = "";
                    l[30] = f.join(",");
                }),
                "line 31: unique_str is empty",
            ),
        ];
        for (text, want) in cases {
            let msg = Nb201Table::from_csv_str(&text).unwrap_err().to_string();
            assert!(msg.contains(want), "want {want:?} in: {msg}");
        }
        let dup = csv_with(|l| {
            let arch = l[2].split(',').nth(1).unwrap().to_string();
            let mut f: Vec<String> = l[3].split(',').map(str::to_string).collect();
            f[1] = arch;
            l[3] = f.join(",");
        });
        assert!(matches!(
            Nb201Table::from_csv_str(&dup),
            Err(BenchError::CsvDuplicateArch { line: 4, first_line: 3, .. })
        ));
    }

    #[test]
    fn missing_csv_file_is_an_io_error_naming_the_path() {
        let err = Nb201Table::from_csv_path(Path::new("/nonexistent/nb201.csv")).unwrap_err();
        assert!(matches!(err, BenchError::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/nb201.csv"));
    }

    #[test]
    fn parse_micros_is_exact_and_strict() {
        assert_eq!(parse_micros("94.373333"), Ok(94_373_333));
        assert_eq!(parse_micros("0.833333"), Ok(833_333));
        assert_eq!(parse_micros("100"), Ok(100_000_000));
        assert_eq!(parse_micros("7.5"), Ok(7_500_000));
        for bad in ["", ".5", "5.", "-1.0", "1.0000001", "nan", "1e2", "100.5", "12a.0", "+3.0"] {
            assert!(parse_micros(bad).is_err(), "{bad}");
        }
        for m in [0, 1, 833_333, 94_373_333, MAX_MICROS] {
            assert_eq!(parse_micros(&micros_text(m)), Ok(m));
        }
    }

    #[test]
    fn decode_time_and_memory() {
        let start = Instant::now();
        let table = Nb201Table::from_compact(compact::ASSET).unwrap();
        let elapsed = start.elapsed();
        eprintln!(
            "decoded the embedded NB201 table ({} compressed bytes) in {:.2} ms; heap {} KiB",
            compact::ASSET.len(),
            elapsed.as_secs_f64() * 1e3,
            table.heap_bytes() / 1024
        );
        assert!(table.heap_bytes() < 2 << 20, "{} bytes", table.heap_bytes());
        assert!(table.heap_bytes() > 1 << 20, "the estimate misses something: {} bytes", table.heap_bytes());
    }
}
