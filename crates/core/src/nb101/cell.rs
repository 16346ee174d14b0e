//! A NAS-Bench-101 cell: parsing, pruning and the benchmark's validity rules.
//!
//! Two spellings are accepted:
//!
//! - the official API's JSON, `{"matrix": [[0,1,...],...], "ops": ["input", ..., "output"]}`;
//! - oxnas's short form `OPS:ROWS`. OPS has one letter per intermediate vertex in order (`3`
//!   conv3x3-bn-relu, `1` conv1x1-bn-relu, `m` maxpool3x3); ROWS lists, for each vertex but the
//!   output, the strictly upper part of its matrix row as 0/1 digits, rows separated by `/` (so the
//!   rows have n-1, n-2, ..., 1 digits). The README's Inception-like cell is
//!   `1333m:111010/00001/0001/100/01/1`; input straight to output is `:1`.
//!
//! Validity follows the official `ModelSpec` and `NASBench.is_valid`: the matrix must be square,
//! match the ops in length and be strictly upper triangular; vertices that are not on some
//! input→output path are pruned (and need not carry a known op); the pruned cell must connect input
//! to output and have at most 7 vertices and 9 edges, start with `input`, end with `output`, and
//! use only the three ops in between. A [`Cell`] is always the pruned, valid cell: that is what the
//! benchmark hashes, builds and counts.

use std::fmt;
use std::str::FromStr;

use super::op::{Nb101Op, INPUT, OP_LIST, OUTPUT};

/// Most vertices of a cell after pruning (input, five ops, output).
pub const MAX_VERTICES: usize = 7;
/// Most edges of a cell after pruning.
pub const MAX_EDGES: usize = 9;

const SHORT_EXAMPLE: &str = "1333m:111010/00001/0001/100/01/1";

/// Why a cell was rejected. The variants follow the order in which the benchmark checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CellError {
    #[error(
        "not a NAS-Bench-101 cell in JSON form: {reason}; expected \
         {{\"matrix\": [[0,1,...],...], \"ops\": [\"input\",...,\"output\"]}}"
    )]
    Json { reason: String },
    #[error(
        "not a NAS-Bench-101 cell in short form: {reason}; expected OPS:ROWS with one op letter per \
         intermediate vertex (3 conv3x3, 1 conv1x1, m maxpool) and the matrix rows above the diagonal, \
         e.g. '{SHORT_EXAMPLE}'"
    )]
    Short { reason: String },
    #[error("the matrix has {n} row(s); a cell has at least 2 vertices (input and output)")]
    TooFewVertices { n: usize },
    #[error("the matrix is not square: row {row} has {len} entries, but there are {n} rows")]
    NotSquare { row: usize, len: usize, n: usize },
    #[error("{ops} ops for a {n}x{n} matrix; give one op per vertex, 'input' first and 'output' last")]
    OpsLength { ops: usize, n: usize },
    #[error("matrix entry [{row}][{col}] is {value}; entries are 0 (no edge) or 1 (edge)")]
    BadEntry { row: usize, col: usize, value: i64 },
    #[error(
        "the matrix is not upper triangular: entry [{row}][{col}] is 1, but edges only go from a vertex \
         to a later one (column > row)"
    )]
    NotUpperTriangular { row: usize, col: usize },
    #[error("the cell is disconnected: no path leads from the input to the output")]
    Disconnected,
    #[error("{n} vertices after pruning; NAS-Bench-101 cells have at most {MAX_VERTICES} (input, 5 ops, output)")]
    TooManyVertices { n: usize },
    #[error("{n} edges after pruning; NAS-Bench-101 cells have at most {MAX_EDGES}")]
    TooManyEdges { n: usize },
    #[error("the first op is '{op}'; it must be 'input'")]
    FirstNotInput { op: String },
    #[error("the last op is '{op}'; it must be 'output'")]
    LastNotOutput { op: String },
    #[error("vertex {vertex} has unknown op '{op}'; intermediate vertices take one of {OP_LIST}")]
    UnknownOp { vertex: usize, op: String },
}

/// A valid NAS-Bench-101 cell after pruning.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cell {
    n: usize,
    /// Bit `j` of `rows[i]` is the edge i→j; only `i < j < n` may be set.
    rows: [u8; MAX_VERTICES],
    /// Ops of vertices 1..n-1.
    ops: Vec<Nb101Op>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonSpec {
    matrix: Vec<Vec<i64>>,
    ops: Vec<String>,
}

impl Cell {
    /// A cell in the official API's terms: a square 0/1 matrix and one op name per vertex.
    pub fn from_spec<S: AsRef<str>>(matrix: &[Vec<i64>], ops: &[S]) -> Result<Cell, CellError> {
        let n = matrix.len();
        if let Some((row, r)) = matrix.iter().enumerate().find(|(_, r)| r.len() != n) {
            return Err(CellError::NotSquare { row, len: r.len(), n });
        }
        if ops.len() != n {
            return Err(CellError::OpsLength { ops: ops.len(), n });
        }
        let mut adj = vec![vec![false; n]; n];
        for (i, r) in matrix.iter().enumerate() {
            for (j, &v) in r.iter().enumerate() {
                match v {
                    0 => {}
                    1 => adj[i][j] = true,
                    value => return Err(CellError::BadEntry { row: i, col: j, value }),
                }
            }
        }
        let names: Vec<&str> = ops.iter().map(|s| s.as_ref()).collect();
        Cell::from_adjacency(&adj, &names)
    }

    /// The official API's JSON form.
    pub fn from_json(text: &str) -> Result<Cell, CellError> {
        let spec: JsonSpec = serde_json::from_str(text).map_err(|e| CellError::Json { reason: e.to_string() })?;
        Cell::from_spec(&spec.matrix, &spec.ops)
    }

    /// oxnas's short form `OPS:ROWS` (see the module docs).
    pub fn from_short(text: &str) -> Result<Cell, CellError> {
        let bad = |reason: String| CellError::Short { reason };
        let (letters, rows) = text.split_once(':').ok_or_else(|| bad("no ':' between ops and rows".into()))?;
        let mut names = vec![INPUT];
        for c in letters.chars() {
            let op =
                Nb101Op::from_letter(c).ok_or_else(|| bad(format!("unknown op letter '{c}' (ops are 3, 1 and m)")))?;
            names.push(op.name());
        }
        names.push(OUTPUT);
        let n = names.len();
        let groups: Vec<&str> = rows.split('/').collect();
        if groups.len() != n - 1 {
            return Err(bad(format!(
                "{} op letter(s) make {n} vertices, which need {} row(s) separated by '/', not {}",
                n - 2,
                n - 1,
                groups.len()
            )));
        }
        let mut adj = vec![vec![false; n]; n];
        for (i, g) in groups.iter().enumerate() {
            if g.len() != n - 1 - i {
                return Err(bad(format!("row {i} is '{g}'; it needs {} digit(s), one per later vertex", n - 1 - i)));
            }
            for (k, c) in g.chars().enumerate() {
                adj[i][i + 1 + k] = match c {
                    '0' => false,
                    '1' => true,
                    _ => return Err(bad(format!("row {i} is '{g}'; rows are made of 0 and 1"))),
                };
            }
        }
        Cell::from_adjacency(&adj, &names)
    }

    /// Any accepted spelling: JSON when it starts with '{', the short form otherwise.
    pub fn parse(text: &str) -> Result<Cell, CellError> {
        let t = text.trim();
        if t.starts_with('{') {
            Cell::from_json(t)
        } else {
            Cell::from_short(t)
        }
    }

    /// A cell from at most 7 vertices in bit form (bit j of `rows[i]` is the edge i→j) and the ops of
    /// the vertices between input and output. Pruned and checked like any other spelling.
    pub fn from_bits(n: usize, rows: &[u8], ops: &[Nb101Op]) -> Result<Cell, CellError> {
        if ops.len() + 2 != n {
            return Err(CellError::OpsLength { ops: ops.len() + 2, n });
        }
        let adj: Vec<Vec<bool>> =
            (0..n).map(|i| (0..n).map(|j| rows.get(i).is_some_and(|r| j < 8 && r >> j & 1 == 1)).collect()).collect();
        let mut names = vec![INPUT];
        names.extend(ops.iter().map(|o| o.name()));
        names.push(OUTPUT);
        Cell::from_adjacency(&adj, &names)
    }

    /// The shared checks: triangularity, pruning, then the benchmark's limits on the pruned cell.
    fn from_adjacency(adj: &[Vec<bool>], ops: &[&str]) -> Result<Cell, CellError> {
        let n = adj.len();
        for (i, r) in adj.iter().enumerate() {
            if let Some(j) = (0..=i).find(|&j| r[j]) {
                return Err(CellError::NotUpperTriangular { row: i, col: j });
            }
        }
        if n < 2 {
            return Err(CellError::TooFewVertices { n });
        }
        let keep = on_some_path(adj);
        if keep.len() < 2 {
            return Err(CellError::Disconnected);
        }
        let m = keep.len();
        if m > MAX_VERTICES {
            return Err(CellError::TooManyVertices { n: m });
        }
        let mut rows = [0u8; MAX_VERTICES];
        let mut edges = 0;
        for (a, &i) in keep.iter().enumerate() {
            for (b, &j) in keep.iter().enumerate() {
                if adj[i][j] {
                    rows[a] |= 1 << b;
                    edges += 1;
                }
            }
        }
        if edges > MAX_EDGES {
            return Err(CellError::TooManyEdges { n: edges });
        }
        if ops[0] != INPUT {
            return Err(CellError::FirstNotInput { op: ops[0].to_string() });
        }
        if ops[n - 1] != OUTPUT {
            return Err(CellError::LastNotOutput { op: ops[n - 1].to_string() });
        }
        let mut kept_ops = Vec::with_capacity(m - 2);
        for &v in &keep[1..m - 1] {
            let op = ops[v].parse().map_err(|_| CellError::UnknownOp { vertex: v, op: ops[v].to_string() })?;
            kept_ops.push(op);
        }
        Ok(Cell { n: m, rows, ops: kept_ops })
    }

    /// Number of vertices, input and output included.
    pub fn vertices(&self) -> usize {
        self.n
    }

    pub fn has_edge(&self, from: usize, to: usize) -> bool {
        from < self.n && to < self.n && self.rows[from] >> to & 1 == 1
    }

    pub fn num_edges(&self) -> usize {
        self.rows.iter().map(|r| r.count_ones() as usize).sum()
    }

    /// The ops of the intermediate vertices 1..n-1.
    pub fn ops(&self) -> &[Nb101Op] {
        &self.ops
    }

    /// The matrix rows in bit form (bit j of row i is the edge i→j).
    pub fn rows(&self) -> &[u8] {
        &self.rows[..self.n]
    }

    pub fn in_degree(&self, v: usize) -> usize {
        (0..self.n).filter(|&u| self.has_edge(u, v)).count()
    }

    pub fn out_degree(&self, v: usize) -> usize {
        self.rows.get(v).map_or(0, |r| r.count_ones() as usize)
    }

    /// All vertex names as the official API spells them, `input` first and `output` last.
    pub fn op_names(&self) -> Vec<&'static str> {
        let mut names = vec![INPUT];
        names.extend(self.ops.iter().map(|o| o.name()));
        names.push(OUTPUT);
        names
    }

    pub fn matrix(&self) -> Vec<Vec<u8>> {
        (0..self.n).map(|i| (0..self.n).map(|j| self.has_edge(i, j) as u8).collect()).collect()
    }

    /// The official API's JSON form, on one line.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "matrix": self.matrix(), "ops": self.op_names() }).to_string()
    }

    /// oxnas's short form of this vertex order (see the module docs).
    pub fn short(&self) -> String {
        let mut s: String = self.ops.iter().map(|o| o.letter()).collect();
        s.push(':');
        for i in 0..self.n - 1 {
            if i > 0 {
                s.push('/');
            }
            s.extend((i + 1..self.n).map(|j| if self.has_edge(i, j) { '1' } else { '0' }));
        }
        s
    }

    /// Edges on the longest input→output path.
    pub fn depth(&self) -> usize {
        // Vertices are in topological order (the matrix is upper triangular).
        let mut longest = vec![0usize; self.n];
        for v in 1..self.n {
            longest[v] = (0..v).filter(|&u| self.has_edge(u, v)).map(|u| longest[u] + 1).max().unwrap_or(0);
        }
        longest[self.n - 1]
    }

    pub fn count(&self, op: Nb101Op) -> usize {
        self.ops.iter().filter(|&&o| o == op).count()
    }
}

/// The vertices on some path from vertex 0 to vertex n-1, ascending.
fn on_some_path(adj: &[Vec<bool>]) -> Vec<usize> {
    let n = adj.len();
    let mut from_input = vec![false; n];
    from_input[0] = true;
    for i in 0..n {
        if from_input[i] {
            for j in i + 1..n {
                from_input[j] |= adj[i][j];
            }
        }
    }
    let mut to_output = vec![false; n];
    to_output[n - 1] = true;
    for j in (0..n).rev() {
        if to_output[j] {
            for i in 0..j {
                to_output[i] |= adj[i][j];
            }
        }
    }
    (0..n).filter(|&v| from_input[v] && to_output[v]).collect()
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl FromStr for Cell {
    type Err = CellError;
    fn from_str(s: &str) -> Result<Self, CellError> {
        Cell::parse(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The README's Inception-like cell in the official JSON form.
    pub const README_JSON: &str = r#"{"matrix": [[0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        "ops": ["input", "conv1x1-bn-relu", "conv3x3-bn-relu", "conv3x3-bn-relu",
                "conv3x3-bn-relu", "maxpool3x3", "output"]}"#;
    pub const README_SHORT: &str = "1333m:111010/00001/0001/100/01/1";

    fn spec(m: &[&[i64]], ops: &[&str]) -> Result<Cell, CellError> {
        Cell::from_spec(&m.iter().map(|r| r.to_vec()).collect::<Vec<_>>(), ops)
    }

    #[test]
    fn json_and_short_forms_agree_and_round_trip() {
        let a = Cell::parse(README_JSON).unwrap();
        let b = Cell::parse(README_SHORT).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.vertices(), a.num_edges(), a.depth()), (7, 9, 3));
        assert_eq!(a.short(), README_SHORT);
        assert_eq!(a.to_string(), README_SHORT);
        assert_eq!(Cell::parse(&a.to_json()).unwrap(), a);
        assert_eq!(
            a.to_json(),
            r#"{"matrix":[[0,1,1,1,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]],"ops":["input","conv1x1-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","maxpool3x3","output"]}"#
        );
        assert_eq!((a.in_degree(6), a.out_degree(0), a.count(Nb101Op::Conv3x3)), (4, 4, 3));
        let skip = Cell::parse(":1").unwrap();
        assert_eq!(
            (skip.vertices(), skip.num_edges(), skip.depth(), skip.to_json().as_str()),
            (2, 1, 1, r#"{"matrix":[[0,1],[0,0]],"ops":["input","output"]}"#)
        );
        assert_eq!(Cell::from_bits(7, a.rows(), a.ops()).unwrap(), a);
    }

    #[test]
    fn pruning_drops_vertices_off_every_input_output_path() {
        // Vertex 2 (a pool) is fed by the input but feeds nothing; vertex 3 feeds the output but is
        // fed by nothing; vertex 4 has an op no one knows, which is fine because it is pruned.
        let c = spec(
            &[
                &[0, 1, 1, 0, 0, 0],
                &[0, 0, 0, 0, 0, 1],
                &[0, 0, 0, 0, 0, 0],
                &[0, 0, 0, 0, 1, 1],
                &[0, 0, 0, 0, 0, 0],
                &[0, 0, 0, 0, 0, 0],
            ],
            &["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "conv5x5", "output"],
        )
        .unwrap();
        assert_eq!(c.short(), "3:10/1");
        // The official check counts edges after pruning: 10 edges, one into the dangling vertex 5,
        // is a valid 9-edge cell; 11 with one dangling is still one too many.
        let c = Cell::parse("33333:111010/11100/1000/100/01/0").unwrap();
        assert_eq!((c.vertices(), c.num_edges()), (6, 9));
        assert_eq!(c.short(), "3333:11100/1110/100/10/1");
        let ten = Cell::parse("33333:111010/11100/1001/100/01/0").unwrap_err();
        assert_eq!(ten, CellError::TooManyEdges { n: 10 });
        // Eight vertices are fine when one of them is pruned away.
        let mut m = vec![vec![0i64; 8]; 8];
        for i in 0..6 {
            m[i][i + 1] = 1;
        }
        m[6][7] = 1;
        m[0][7] = 1;
        let ops8 = [
            "input",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "conv3x3-bn-relu",
            "output",
        ];
        assert_eq!(Cell::from_spec(&m, &ops8).unwrap_err(), CellError::TooManyVertices { n: 8 });
        m[5][6] = 0;
        assert_eq!(Cell::from_spec(&m, &ops8).unwrap().short(), ":1");
    }

    #[test]
    fn each_invalid_cell_gets_its_own_error() {
        let e = |m: &[&[i64]], ops: &[&str]| spec(m, ops).unwrap_err();
        assert_eq!(e(&[&[0, 1], &[0]], &["input", "output"]), CellError::NotSquare { row: 1, len: 1, n: 2 });
        assert_eq!(e(&[&[0, 1], &[0, 0]], &["input"]), CellError::OpsLength { ops: 1, n: 2 });
        assert_eq!(e(&[&[0, 2], &[0, 0]], &["input", "output"]), CellError::BadEntry { row: 0, col: 1, value: 2 });
        assert_eq!(
            e(&[&[0, 1, 0], &[0, 0, 1], &[0, 1, 0]], &["input", "maxpool3x3", "output"]),
            CellError::NotUpperTriangular { row: 2, col: 1 }
        );
        assert_eq!(e(&[&[1, 1], &[0, 0]], &["input", "output"]), CellError::NotUpperTriangular { row: 0, col: 0 });
        assert_eq!(
            e(&[&[0, 1, 0], &[0, 0, 0], &[0, 0, 0]], &["input", "maxpool3x3", "output"]),
            CellError::Disconnected
        );
        assert_eq!(e(&[&[0]], &["input"]), CellError::TooFewVertices { n: 1 });
        assert_eq!(e(&[&[0, 1], &[0, 0]], &["in", "output"]), CellError::FirstNotInput { op: "in".into() });
        assert_eq!(e(&[&[0, 1], &[0, 0]], &["input", "out"]), CellError::LastNotOutput { op: "out".into() });
        assert_eq!(
            e(&[&[0, 1, 0], &[0, 0, 1], &[0, 0, 0]], &["input", "conv5x5", "output"]),
            CellError::UnknownOp { vertex: 1, op: "conv5x5".into() }
        );
        let msg = CellError::TooManyEdges { n: 10 }.to_string();
        assert!(msg.contains("10 edges") && msg.contains("at most 9"), "{msg}");
        let msg = CellError::UnknownOp { vertex: 1, op: "conv5x5".into() }.to_string();
        assert!(msg.contains("conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3"), "{msg}");
    }

    #[test]
    fn malformed_text_is_named() {
        for (text, needle) in [
            ("{\"matrix\": [[0]]}", "missing field `ops`"),
            ("{\"matrix\": [[0,1],[0,0]], \"ops\": [\"input\",\"output\"], \"x\": 1}", "unknown field"),
            ("{not json", "JSON form"),
            ("1333m", "no ':'"),
            ("13x:1", "unknown op letter 'x'"),
            ("1:1", "need 2 row(s)"),
            ("1:11/11", "row 1 is '11'; it needs 1 digit"),
            ("1:12/1", "made of 0 and 1"),
        ] {
            let msg = Cell::parse(text).unwrap_err().to_string();
            assert!(msg.contains(needle), "{text}: {msg}");
        }
        assert!(Cell::parse("1:10/0").unwrap_err() == CellError::Disconnected);
    }
}
