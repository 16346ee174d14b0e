//! The benchmark's module hash: the key of every cell in the official data, equal for isomorphic
//! cells.
//!
//! The official algorithm (`hash_module` in the `nasbench` package), on the pruned cell with labels
//! input = -1, output = -2 and each op its position in the benchmark's op list:
//!
//! 1. each vertex starts as the MD5 hex digest of the text Python prints for the tuple
//!    `(out_degree, in_degree, label)`, e.g. `"(4, 0, -1)"`;
//! 2. V times (V = vertices), every vertex becomes the MD5 hex of its in-neighbours' hashes sorted
//!    and concatenated, `|`, its out-neighbours' hashes likewise, `|`, its own hash;
//! 3. the fingerprint is the MD5 hex of the text Python prints for the sorted list of vertex hashes,
//!    `['…', '…']`.
//!
//! Any difference in those texts (spacing, quotes) changes every key, so the tests pin golden
//! values recomputed by bench/nb101_golden.py, an independent Python implementation.

use md5::{Digest, Md5};

use super::cell::Cell;

#[cfg(test)]
fn md5_hex(text: &str) -> String {
    String::from_utf8(md5_hex_bytes(text.as_bytes()).to_vec()).expect("hex is ASCII")
}

/// MD5 as 32 lowercase hex digits, without allocating: the hash runs ~60 digests per cell and an
/// import hashes every cell of the benchmark.
fn md5_hex_bytes(bytes: &[u8]) -> [u8; 32] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Md5::digest(bytes);
    let mut out = [0u8; 32];
    for (i, b) in digest.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 15) as usize];
    }
    out
}

impl Cell {
    /// The vertex labels the hash uses: -1 input, -2 output, op label in between.
    fn hash_labels(&self) -> Vec<i32> {
        let mut labels = vec![-1];
        labels.extend(self.ops().iter().map(|o| o.label()));
        labels.push(-2);
        labels
    }

    /// The benchmark's key of this cell (32 lowercase hex digits).
    pub fn module_hash(&self) -> String {
        let n = self.vertices();
        let labels = self.hash_labels();
        let mut hashes: Vec<[u8; 32]> = (0..n)
            .map(|v| {
                let tuple = format!("({}, {}, {})", self.out_degree(v), self.in_degree(v), labels[v]);
                md5_hex_bytes(tuple.as_bytes())
            })
            .collect();
        let mut text = Vec::with_capacity(32 * (2 * n + 1) + 2);
        let mut next = hashes.clone();
        for _ in 0..n {
            for (v, slot) in next.iter_mut().enumerate() {
                let mut ins: Vec<&[u8; 32]> = (0..n).filter(|&u| self.has_edge(u, v)).map(|u| &hashes[u]).collect();
                let mut outs: Vec<&[u8; 32]> = (0..n).filter(|&w| self.has_edge(v, w)).map(|w| &hashes[w]).collect();
                ins.sort_unstable();
                outs.sort_unstable();
                text.clear();
                ins.iter().for_each(|h| text.extend_from_slice(&h[..]));
                text.push(b'|');
                outs.iter().for_each(|h| text.extend_from_slice(&h[..]));
                text.push(b'|');
                text.extend_from_slice(&hashes[v]);
                *slot = md5_hex_bytes(&text);
            }
            std::mem::swap(&mut hashes, &mut next);
        }
        hashes.sort_unstable();
        // Python's text for a list of strings: ['a', 'b'].
        text.clear();
        text.push(b'[');
        for (i, h) in hashes.iter().enumerate() {
            if i > 0 {
                text.extend_from_slice(b", ");
            }
            text.push(b'\'');
            text.extend_from_slice(h);
            text.push(b'\'');
        }
        text.push(b']');
        String::from_utf8(md5_hex_bytes(&text).to_vec()).expect("hex is ASCII")
    }
}

/// Parses a 32-hex-digit module hash into its 16 bytes.
pub fn hash_bytes(hash: &str) -> Option<[u8; 16]> {
    let h = hash.trim();
    if h.len() != 32 || !h.is_ascii() {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The 32-hex-digit form of a hash's bytes.
pub fn hash_hex(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb101::cell::tests::{README_JSON, README_SHORT};

    // Golden values from `python3 bench/nb101_golden.py` (own Python implementation of the published
    // algorithm, hashlib only), cell names as in its CELLS table.
    const README_HASH: &str = "28cfc7874f6d200472e1a9dcd8650aa0";

    #[test]
    fn golden_hashes_match_the_published_algorithm() {
        for (name, cell, hash) in [
            ("readme", README_SHORT, README_HASH),
            // Same README cell in the vertex order the published data stores it (conv3x3, conv1x1,
            // maxpool, conv3x3, conv3x3; the two-conv branch is 4→5).
            ("readme_stored", "31m33:111100/00001/0001/001/10/1", README_HASH),
            // The README cell with the 1x1 moved to the head of the two-conv branch.
            ("readme_swapped", "3313m:111010/00001/0001/100/01/1", "a75587b3b05fca17ff3b96921a575b9f"),
            ("skip", ":1", "043721b9c7fe8c5fad811d47d83132ec"),
            ("chain5", "33333:100000/10000/1000/100/10/1", "b3bc0991ac661443a583796ce582f11f"),
            ("dangling (pruned to 3:10/1)", "3m:110/01/0", "b49ac8c578b4561d79ac7087988f1c61"),
            ("dense9", "1m33m:100001/11000/0100/101/10/1", "737d0ee2cd766c29378cf6b2416aa9e6"),
        ] {
            let c = Cell::parse(cell).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.module_hash(), hash, "{name}");
        }
        assert_eq!(Cell::parse(README_JSON).unwrap().module_hash(), README_HASH);
    }

    #[test]
    fn the_first_round_hashes_python_tuple_text() {
        // By hand: the input of ':1' has out-degree 1, in-degree 0, label -1; Python prints the
        // tuple as "(1, 0, -1)". md5("(1, 0, -1)") is fixed, so the first-round value is pinned
        // independently of the rest of the algorithm.
        // Value from python3 -c "import hashlib; print(hashlib.md5(b'(1, 0, -1)').hexdigest())".
        assert_eq!(md5_hex("(1, 0, -1)"), "3bb65a81afada4c50c2c4630873f0a79");
        assert_eq!(hash_hex(&hash_bytes(README_HASH).unwrap()), README_HASH);
        assert_eq!(hash_bytes("28cfc7874f6d200472e1a9dcd8650aaz"), None);
        assert_eq!(hash_bytes("28cf"), None);
    }

    #[test]
    fn isomorphs_share_a_hash_and_others_do_not() {
        let base = Cell::parse(README_SHORT).unwrap();
        let h = base.module_hash();
        // Every relabelling of the five intermediate vertices that keeps the matrix upper
        // triangular is an isomorph: all must hash alike.
        let mut isomorphs = 0;
        for perm in permutations(5) {
            if let Some(c) = permuted(&base, &perm) {
                assert_eq!(c.module_hash(), h, "{c}");
                isomorphs += 1;
            }
        }
        // Topological orders of the README cell: vertex 3 must precede vertex 4, the rest is free.
        assert_eq!(isomorphs, 60);
        // Changing one op or moving one edge gives another cell, another hash.
        let other_op = Cell::parse("3333m:111010/00001/0001/100/01/1").unwrap();
        assert_ne!(other_op.module_hash(), h);
        // The input→pool edge moved to come from the end of the two-conv branch.
        let moved = Cell::parse("1333m:111000/00001/0001/100/11/1").unwrap();
        assert_eq!(moved.num_edges(), 9);
        assert_ne!(moved.module_hash(), h);
    }

    pub(crate) fn permutations(k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![vec![]];
        }
        let mut out = vec![];
        for p in permutations(k - 1) {
            for pos in 0..=p.len() {
                let mut q = p.clone();
                q.insert(pos, k - 1);
                out.push(q);
            }
        }
        out
    }

    /// The cell with intermediate vertex i+1 moved to position perm[i]+1; `None` when that order
    /// breaks upper triangularity.
    pub(crate) fn permuted(c: &Cell, perm: &[usize]) -> Option<Cell> {
        let n = c.vertices();
        let to = |v: usize| if v == 0 || v == n - 1 { v } else { perm[v - 1] + 1 };
        let mut rows = vec![0u8; n];
        let mut ops = vec![c.ops()[0]; n - 2];
        for v in 1..n - 1 {
            ops[to(v) - 1] = c.ops()[v - 1];
        }
        for i in 0..n {
            for j in 0..n {
                if c.has_edge(i, j) {
                    if to(i) >= to(j) {
                        return None;
                    }
                    rows[to(i)] |= 1 << to(j);
                }
            }
        }
        Some(Cell::from_bits(n, &rows, &ops).unwrap())
    }
}
