//! One fixed vertex order per isomorphism class, so that isomorphic cells print alike.
//!
//! Why not the module hash as the architecture's name: a hash cannot be turned back into a cell,
//! and score and truth tables, features and the engine all need the cell. The canonical order is
//! exact isomorphism (the hash is only very nearly so) and is computed by brute force: of all
//! orders of the at most five intermediate vertices that keep the matrix upper triangular (at most
//! 120), the one whose short form is smallest. Input and output keep their places, as any
//! isomorphism of these labelled DAGs must keep them.

use super::cell::Cell;

impl Cell {
    /// The isomorph of this cell in canonical vertex order; equal cells for isomorphic inputs.
    pub fn canonical(&self) -> Cell {
        let n = self.vertices();
        let k = n - 2;
        let mut best: Option<(String, Cell)> = None;
        let mut perm: Vec<usize> = (0..k).collect();
        loop {
            if let Some(c) = self.relabelled(&perm) {
                let s = c.short();
                if best.as_ref().is_none_or(|(b, _)| s < *b) {
                    best = Some((s, c));
                }
            }
            if !next_permutation(&mut perm) {
                break;
            }
        }
        // The identity order is always upper triangular, so some candidate exists.
        best.map(|(_, c)| c).unwrap_or_else(|| self.clone())
    }

    /// How many distinct spellings (vertex orders with an upper-triangular matrix) this cell has:
    /// its isomorphism class's size among all labelled cells of its vertex count.
    pub fn spellings(&self) -> usize {
        let k = self.vertices() - 2;
        let mut seen = std::collections::HashSet::new();
        let mut perm: Vec<usize> = (0..k).collect();
        loop {
            if let Some(c) = self.relabelled(&perm) {
                seen.insert(c);
            }
            if !next_permutation(&mut perm) {
                return seen.len();
            }
        }
    }

    /// The cell with intermediate vertex v placed at position perm[v-1]+1, when that order keeps
    /// every edge pointing forward.
    fn relabelled(&self, perm: &[usize]) -> Option<Cell> {
        let n = self.vertices();
        let to = |v: usize| if v == 0 || v == n - 1 { v } else { perm[v - 1] + 1 };
        let mut rows = [0u8; super::MAX_VERTICES];
        let mut ops = self.ops().to_vec();
        for v in 1..n - 1 {
            ops[to(v) - 1] = self.ops()[v - 1];
        }
        for i in 0..n {
            for j in i + 1..n {
                if self.has_edge(i, j) {
                    if to(i) >= to(j) {
                        return None;
                    }
                    rows[to(i)] |= 1 << to(j);
                }
            }
        }
        Cell::from_bits(n, &rows[..n], &ops).ok()
    }
}

/// Advances `p` to the next permutation in lexicographic order; false after the last one.
pub(crate) fn next_permutation(p: &mut [usize]) -> bool {
    let Some(i) = (1..p.len()).rev().find(|&i| p[i - 1] < p[i]) else { return false };
    let j = (i..p.len()).rev().find(|&j| p[j] > p[i - 1]).unwrap_or(i);
    p.swap(i - 1, j);
    p[i..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb101::cell::tests::README_SHORT;

    #[test]
    fn isomorphs_share_one_canonical_cell() {
        let a = Cell::parse(README_SHORT).unwrap();
        let b = Cell::parse("31m33:111100/00001/0001/001/10/1").unwrap();
        assert_ne!(a, b);
        let ca = a.canonical();
        assert_eq!(ca, b.canonical());
        assert_eq!(ca.canonical(), ca, "idempotent");
        assert_eq!(ca.module_hash(), a.module_hash());
        // Smallest short form: letters sort '1' < '3' < 'm', so the 1x1 comes first and the pool
        // last; then the two-conv branch (2→3) comes before the lone 3x3 (4), whose row starts with 0.
        assert_eq!(ca.short(), "1333m:110110/00001/1000/001/01/1");
        let other = Cell::parse("3313m:111010/00001/0001/100/01/1").unwrap();
        assert_ne!(other.canonical(), ca);
        assert_eq!(Cell::parse(":1").unwrap().canonical().short(), ":1");
    }

    #[test]
    fn permutations_are_all_visited_once() {
        let mut p = vec![0, 1, 2, 3];
        let mut seen = std::collections::HashSet::new();
        loop {
            assert!(seen.insert(p.clone()));
            if !next_permutation(&mut p) {
                break;
            }
        }
        assert_eq!(seen.len(), 24);
        assert!(!next_permutation(&mut []));
    }
}
