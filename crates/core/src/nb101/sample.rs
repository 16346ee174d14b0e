//! Drawing cells: uniformly over the benchmark's cells (isomorphism classes), or the way the
//! benchmark's own random-search baseline draws them.
//!
//! Uniform over classes, by rejection: draw a *labelled* cell uniformly among all cells whose every
//! vertex lies on an input→output path (nothing to prune) with at most 7 vertices and 9 edges, then
//! keep it with probability 1 / (number of spellings of its class). A class with s spellings is
//! proposed with probability s / L (L labelled cells in all) and kept with 1/s, so every class is
//! equally likely. About one proposal in three is kept (423,624 classes over 1,293,208 labelled
//! cells; both counts are checked by tests).
//!
//! The benchmark's random search instead fills all 21 upper-triangular entries of a 7-vertex matrix
//! with fair coins and the five ops uniformly, and redraws until the pruned cell is valid. Pruning
//! makes that heavily favour small cells (in ~9% of draws the cell is input→output alone).

use std::sync::OnceLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::cell::{Cell, MAX_EDGES, MAX_VERTICES};
use super::op::Nb101Op;

/// Every upper-triangular adjacency (n, rows) of 2..=7 vertices with at most 9 edges in which each
/// vertex but the output has an out-edge and each but the input has an in-edge, i.e. nothing is
/// pruned. Ordered by n, then by edge bits.
pub fn full_matrices() -> &'static [(usize, [u8; MAX_VERTICES])] {
    static ALL: OnceLock<Vec<(usize, [u8; MAX_VERTICES])>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out = vec![];
        for n in 2..=MAX_VERTICES {
            let pairs: Vec<(usize, usize)> = (1..n).flat_map(|j| (0..j).map(move |i| (i, j))).collect();
            for bits in 0u32..1 << pairs.len() {
                if bits.count_ones() as usize > MAX_EDGES {
                    continue;
                }
                let mut rows = [0u8; MAX_VERTICES];
                for (k, &(i, j)) in pairs.iter().enumerate() {
                    if bits >> k & 1 == 1 {
                        rows[i] |= 1 << j;
                    }
                }
                let fed = rows.iter().fold(0u8, |a, r| a | r);
                if (0..n - 1).all(|i| rows[i] != 0) && (1..n).all(|j| fed >> j & 1 == 1) {
                    out.push((n, rows));
                }
            }
        }
        out
    })
}

/// Labelled cells with nothing to prune: each full matrix with every choice of ops.
pub fn labelled_count() -> u64 {
    full_matrices().iter().map(|&(n, _)| 3u64.pow(n as u32 - 2)).sum()
}

/// The labelled cell at position `i` of 0..[`labelled_count`] (matrices in [`full_matrices`]
/// order, each followed by its op assignments as base-3 numbers).
fn labelled_at(mut i: u64) -> Cell {
    for &(n, rows) in full_matrices() {
        let block = 3u64.pow(n as u32 - 2);
        if i < block {
            let ops: Vec<Nb101Op> = (0..n - 2).map(|k| Nb101Op::ALL[(i / 3u64.pow(k as u32) % 3) as usize]).collect();
            return Cell::from_bits(n, &rows[..n], &ops).expect("full matrices with at most 9 edges are valid cells");
        }
        i -= block;
    }
    unreachable!("index below labelled_count()")
}

/// A cell drawn uniformly from the benchmark's cells (one isomorphism class each).
pub fn sample_uniform(rng: &mut ChaCha8Rng) -> Cell {
    let total = labelled_count();
    loop {
        let c = labelled_at(rng.random_range(0..total));
        let s = c.spellings();
        if s == 1 || rng.random_range(0..s) == 0 {
            return c;
        }
    }
}

/// A cell drawn the way the benchmark's random-search baseline draws one (see the module docs).
pub fn sample_random_spec(rng: &mut ChaCha8Rng) -> Cell {
    loop {
        let mut rows = [0u8; MAX_VERTICES];
        for (i, row) in rows.iter_mut().enumerate() {
            for j in i + 1..MAX_VERTICES {
                if rng.random_bool(0.5) {
                    *row |= 1 << j;
                }
            }
        }
        let ops: Vec<Nb101Op> = (0..MAX_VERTICES - 2).map(|_| Nb101Op::ALL[rng.random_range(0..3)]).collect();
        if let Ok(c) = Cell::from_bits(MAX_VERTICES, &rows, &ops) {
            return c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn full_matrices_by_vertex_count() {
        // Counted independently by brute force in Python (every 0/1 upper triangle, keep those with
        // at most 9 edges, an out-edge on every vertex but the last and an in-edge on every vertex
        // but the first).
        let mut by_n = [0usize; 8];
        for &(n, _) in full_matrices() {
            by_n[n] += 1;
        }
        assert_eq!(by_n[2..], [1, 2, 10, 121, 1545, 4793]);
        // 1 + 2·3 + 10·9 + 121·27 + 1545·81 + 4793·243
        assert_eq!(labelled_count(), 1_293_208);
    }

    /// Summing 1/spellings over all labelled cells counts the classes: NAS-Bench-101 has 423,624
    /// unique cells. This checks pruning, validity, the spelling count and (through the class count
    /// per matrix) that the sampler's acceptance rule is right.
    #[test]
    fn labelled_cells_make_the_benchmarks_423624_classes() {
        let mut classes = 0.0f64;
        for &(n, rows) in full_matrices() {
            let k = n - 2;
            // Vertex orders that keep this matrix upper triangular, with the relabelled rows.
            let mut perms = vec![];
            let mut p: Vec<usize> = (0..k).collect();
            loop {
                let to = |v: usize| if v == 0 || v == n - 1 { v } else { p[v - 1] + 1 };
                let mut r = [0u8; MAX_VERTICES];
                let ok = (0..n).all(|i| {
                    (0..n).filter(|&j| rows[i] >> j & 1 == 1).all(|j| {
                        r[to(i)] |= 1 << to(j);
                        to(i) < to(j)
                    })
                });
                if ok {
                    perms.push((p.clone(), r));
                }
                if !crate::nb101::canon::next_permutation(&mut p) {
                    break;
                }
            }
            for code in 0..3u32.pow(k as u32) {
                let ops: Vec<u32> = (0..k).map(|i| code / 3u32.pow(i as u32) % 3).collect();
                let mut spellings: Vec<([u8; MAX_VERTICES], u32)> = perms
                    .iter()
                    .map(|(p, r)| {
                        let moved: u32 = (0..k).map(|v| ops[v] * 3u32.pow(p[v] as u32)).sum();
                        (*r, moved)
                    })
                    .collect();
                spellings.sort_unstable();
                spellings.dedup();
                classes += 1.0 / spellings.len() as f64;
            }
        }
        assert_eq!(classes.round() as u64, 423_624);
        assert!((classes - 423_624.0).abs() < 1e-3, "{classes}");
    }

    #[test]
    fn spellings_agree_with_the_fast_count() {
        // README cell: vertex 3 before 4, the other three free: 5!/2 = 60 orders, all distinct
        // spellings (no two vertices have the same op and the same neighbours).
        let c = Cell::parse("1333m:111010/00001/0001/100/01/1").unwrap();
        assert_eq!(c.spellings(), 60);
        // Four identical parallel convs: every order is the same spelling.
        assert_eq!(Cell::parse("3333:11110/0001/001/01/1").unwrap().spellings(), 1);
        assert_eq!(Cell::parse(":1").unwrap().spellings(), 1);
    }

    #[test]
    fn uniform_sampling_reaches_big_and_small_cells_alike() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let cells: Vec<Cell> = (0..400).map(|_| sample_uniform(&mut rng)).collect();
        let distinct: std::collections::HashSet<String> = cells.iter().map(|c| c.module_hash()).collect();
        // 400 draws from 423,624 classes: a repeat is unlikely.
        assert!(distinct.len() >= 398, "{}", distinct.len());
        // Most classes have 7 vertices.
        let seven = cells.iter().filter(|c| c.vertices() == 7).count();
        assert!(seven > 300, "{seven}");
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let spec: Vec<Cell> = (0..400).map(|_| sample_random_spec(&mut rng)).collect();
        assert!(spec.iter().filter(|c| c.vertices() == 7).count() < 40);
        assert!(spec.iter().any(|c| c.vertices() == 2));
    }
}
