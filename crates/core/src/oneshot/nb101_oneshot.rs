//! NAS-Bench-101 as a one-shot net sees it: search space 1 of NAS-Bench-1Shot1 (Zela et al. 2020).
//!
//! A cell of the one-shot net has four choice blocks between its input and output. Every block is
//! as wide as the others (the stage's channel count), so every block's weights serve every
//! architecture, which the benchmark's own channel split (widths that depend on the graph) would not
//! allow. An architecture picks each block's op (conv3x3, conv1x1 or max-pool) and each vertex's
//! parents, a fixed number per vertex ([`PARENTS`]): block 1 reads the input, block 2 the input and
//! block 1, blocks 3 and 4 and the output two earlier vertices each. That is 9 edges at most, and
//! 3⁴ × 3 × 6 × 10 = 14,580 configurations ([`Configuration`]). A block that does not lead to the
//! output is a loose end: it computes nothing that matters and the benchmark prunes it.
//!
//! Canonical string: the short form of the pruned cell's canonical isomorph, as in
//! [`super::Nb101RankSpace`], so that scores join NAS-Bench-101's tables through the module hash.
//! The 14,580 configurations make fewer distinct cells; [`Nb101OneShotSpace::sample`] draws
//! uniformly over those cells (not over configurations, which would favour cells with loose-end
//! spellings), and [`Nb101OneShotSpace::configuration`] names the one configuration the supernet
//! runs for a cell: the first in enumeration order.

use std::collections::HashMap;
use std::sync::OnceLock;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{ArchError, Feature, Nb101RankSpace, RankSpace};
use crate::nb101::{Cell, Nb101Op};

/// Choice blocks per cell in search space 1.
pub const BLOCKS: usize = 4;
/// Vertices: the input, the blocks, the output.
pub const VERTICES: usize = BLOCKS + 2;
/// Parents of each vertex in search space 1, input (none) to output.
pub const PARENTS: [usize; VERTICES] = [0, 1, 2, 2, 2, 2];

/// One architecture of the one-shot net, before pruning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Configuration {
    /// The op of block b (vertex b + 1).
    pub ops: [Nb101Op; BLOCKS],
    /// Bit u of `parents[v]` is the edge u→v.
    pub parents: [u8; VERTICES],
}

impl Configuration {
    pub fn has_edge(&self, from: usize, to: usize) -> bool {
        self.parents[to] >> from & 1 == 1
    }

    /// Whether vertex v leads to the output (the output itself included): the vertices a forward
    /// pass has to compute.
    pub fn active(&self) -> [bool; VERTICES] {
        let mut active = [false; VERTICES];
        active[VERTICES - 1] = true;
        for v in (0..VERTICES - 1).rev() {
            active[v] = (v + 1..VERTICES).any(|d| active[d] && self.has_edge(v, d));
        }
        active
    }

    /// The NAS-Bench-101 cell, pruned (loose ends removed).
    pub fn cell(&self) -> Cell {
        let mut rows = [0u8; VERTICES];
        for to in 1..VERTICES {
            for (from, row) in rows.iter_mut().enumerate().take(to) {
                if self.has_edge(from, to) {
                    *row |= 1 << to;
                }
            }
        }
        Cell::from_bits(VERTICES, &rows, &self.ops).expect("every configuration of search space 1 is a valid cell")
    }
}

/// Every configuration, in a fixed order: parents of vertex 1, 2, ... (each in the lexicographic
/// order of its parent sets), then the ops of block 1, 2, ... (conv3x3, conv1x1, max-pool).
pub fn configurations() -> Vec<Configuration> {
    let mut parent_sets: Vec<[u8; VERTICES]> = vec![[0; VERTICES]];
    for (v, &k) in PARENTS.iter().enumerate().skip(1) {
        let choices = subsets(v, k);
        parent_sets = parent_sets
            .iter()
            .flat_map(|p| {
                choices.iter().map(move |&m| {
                    let mut q = *p;
                    q[v] = m;
                    q
                })
            })
            .collect();
    }
    let mut out = Vec::with_capacity(parent_sets.len() * 81);
    for parents in parent_sets {
        for code in 0..3usize.pow(BLOCKS as u32) {
            let ops = std::array::from_fn(|b| Nb101Op::ALL[code / 3usize.pow((BLOCKS - 1 - b) as u32) % 3]);
            out.push(Configuration { ops, parents });
        }
    }
    out
}

/// The k-element subsets of {0, ..., n-1} as bit masks, in lexicographic order of their elements.
fn subsets(n: usize, k: usize) -> Vec<u8> {
    fn go(start: usize, n: usize, k: usize, mask: u8, out: &mut Vec<u8>) {
        if k == 0 {
            out.push(mask);
            return;
        }
        for i in start..n {
            go(i + 1, n, k - 1, mask | 1 << i, out);
        }
    }
    let mut out = vec![];
    go(0, n, k, 0, &mut out);
    out
}

/// The distinct cells of the space and the configuration that stands for each.
struct Catalogue {
    /// Canonical strings, sorted.
    cells: Vec<String>,
    first: HashMap<String, Configuration>,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let mut first = HashMap::new();
        for c in configurations() {
            first.entry(c.cell().canonical().short()).or_insert(c);
        }
        let mut cells: Vec<String> = first.keys().cloned().collect();
        cells.sort();
        Catalogue { cells, first }
    })
}

/// NAS-Bench-1Shot1 search space 1 as a ranking space over NAS-Bench-101 cells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nb101OneShotSpace {
    /// Features (the `params` count included) are those of the benchmark's evaluation network.
    pub base: Nb101RankSpace,
}

impl Nb101OneShotSpace {
    /// The configuration the supernet runs for a cell (any spelling), or why the one-shot net cannot
    /// run it.
    pub fn configuration(&self, text: &str) -> Result<Configuration, ArchError> {
        let canonical = self.base.canonical(text)?;
        catalogue().first.get(&canonical).copied().ok_or_else(|| ArchError {
            space: "nb101",
            text: text.to_string(),
            reason: format!(
                "the cell (canonically {canonical}) is not in NAS-Bench-1Shot1 search space 1: that space's \
                 cells have at most 4 ops, the first op reads only the input, the second the input and the \
                 first op, and the others and the output read exactly two earlier vertices"
            ),
        })
    }
}

impl RankSpace for Nb101OneShotSpace {
    fn name(&self) -> &'static str {
        "nb101"
    }

    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        self.configuration(text)?;
        self.base.canonical(text)
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> String {
        let cells = &catalogue().cells;
        cells[rng.random_range(0..cells.len())].clone()
    }

    fn enumerate(&self) -> Option<Vec<String>> {
        Some(catalogue().cells.clone())
    }

    fn features(&self) -> &'static [Feature] {
        self.base.features()
    }

    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError> {
        self.canonical(canonical)?;
        self.base.feature_values(canonical)
    }

    fn params_note(&self) -> String {
        self.base.params_note()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn keeps_the_space_contract() {
        super::super::contract::check(&Nb101OneShotSpace::default());
    }

    #[test]
    fn configurations_follow_the_parent_counts() {
        let all = configurations();
        assert_eq!(all.len(), 81 * 3 * 6 * 10);
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len());
        for c in &all {
            for (v, &k) in PARENTS.iter().enumerate() {
                assert_eq!(c.parents[v].count_ones() as usize, k);
                assert!(u32::from(c.parents[v]) < 1 << v, "parents come before the vertex");
            }
        }
        assert_eq!(subsets(4, 2), [0b0011, 0b0101, 0b1001, 0b0110, 0b1010, 0b1100]);
    }

    #[test]
    fn counts_of_the_space() {
        // Graphs without loose ends, each with one op per block it keeps, in block positions (not up
        // to isomorphism).
        let labelled: HashSet<_> = configurations()
            .iter()
            .map(|c| {
                let active = c.active();
                let parents: Vec<u8> = (0..VERTICES).map(|v| if active[v] { c.parents[v] } else { 0 }).collect();
                let ops: Vec<Option<Nb101Op>> = (0..BLOCKS).map(|b| active[b + 1].then_some(c.ops[b])).collect();
                (parents, ops)
            })
            .collect();
        let cells = Nb101OneShotSpace::default().enumerate().unwrap().len();
        // Regression values of this enumeration (no published figure counts the same thing): many
        // labelled graphs are isomorphic, e.g. blocks 3 and 4 trading places.
        assert_eq!((labelled.len(), cells), (3702, 2685));
    }

    #[test]
    fn loose_ends_are_pruned() {
        // Output reads blocks 3 and 4, block 4 reads blocks 1 and 3, block 3 reads the input and block
        // 1: block 2 is a loose end.
        let c = Configuration {
            ops: [Nb101Op::Conv3x3, Nb101Op::MaxPool3x3, Nb101Op::Conv1x1, Nb101Op::Conv3x3],
            parents: [0, 0b1, 0b11, 0b11, 0b1010, 0b11000],
        };
        assert_eq!(c.active(), [true, true, false, true, true, true]);
        assert_eq!(c.cell().short(), "313:1100/110/11/1");
    }

    #[test]
    fn samples_are_canonical_cells_of_the_space_with_benchmark_keys() {
        let s = Nb101OneShotSpace::default();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..300 {
            let a = s.sample(&mut rng);
            let cell = Cell::parse(&a).unwrap();
            assert_eq!(cell.canonical().short(), a, "canonical");
            assert!(cell.vertices() <= VERTICES && cell.num_edges() <= 9);
            assert_eq!(s.configuration(&a).unwrap().cell().canonical(), cell, "in the one-shot space");
            assert_eq!(cell.module_hash().len(), 32);
        }
        let all = s.enumerate().unwrap();
        // Every cell is the pruned cell of some configuration and vice versa.
        let from_configs: HashSet<String> = configurations().iter().map(|c| c.cell().canonical().short()).collect();
        assert_eq!(all.iter().cloned().collect::<HashSet<_>>(), from_configs);
        let hashes: HashSet<String> = all.iter().map(|a| Cell::parse(a).unwrap().module_hash()).collect();
        assert_eq!(hashes.len(), all.len(), "distinct cells have distinct benchmark keys");
        // The README cell has five ops: outside the space. So is a cell whose first op reads a pool.
        let e = s.canonical("1333m:111010/00001/0001/100/01/1").unwrap_err();
        assert!(e.reason.contains("not in NAS-Bench-1Shot1 search space 1"), "{e}");
        assert!(s.canonical("3:11/1").is_ok());
        assert!(s.canonical(":1").is_err(), "the output always reads two vertices");
    }

    #[test]
    fn sampling_is_uniform_over_cells() {
        let s = Nb101OneShotSpace::default();
        let n = s.enumerate().unwrap().len();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let draws = 20 * n;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for _ in 0..draws {
            *counts.entry(s.sample(&mut rng)).or_default() += 1;
        }
        // Expected 20 per cell; a cell favoured by its number of configurations would get far more.
        let max = *counts.values().max().unwrap();
        assert!(counts.len() > n * 99 / 100 && max < 50, "{} of {n} cells seen, max {max}", counts.len());
    }

    #[test]
    fn isomorphic_spellings_map_to_one_configuration() {
        let s = Nb101OneShotSpace::default();
        // Two blocks read the input and the first block and feed the output; they swap places.
        let a = s.configuration("331:1110/110/01/1").unwrap();
        let b = s.configuration("313:1110/110/01/1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.cell().canonical(), Cell::parse("331:1110/110/01/1").unwrap().canonical());
        // A second op that reads only the input is not in the space: block 2 always reads block 1.
        assert!(s.configuration("31:111/01/1").is_err());
    }
}
