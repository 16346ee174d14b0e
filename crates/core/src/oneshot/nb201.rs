//! NAS-Bench-201 as a ranking space: cells over a chosen op subset, keyed by their arch strings and
//! indexed like the benchmark's table.

use super::{ArchError, Feature, ListError, RankSpace};
use crate::nb201::set::ArchSet;
use crate::nb201::{Nb201Arch, Nb201Op, EDGES, NUM_ARCHS};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Channel count of the first NB201 stage (C = 16), where the approximate cell size is taken.
pub const DEFAULT_CHANNELS: usize = 16;

/// NB201 cells whose every edge uses one of `ops` (all five for the full space).
#[derive(Debug, Clone, PartialEq)]
pub struct Nb201RankSpace {
    pub ops: Vec<Nb201Op>,
    /// Channel count at which the `params` feature counts one cell.
    pub channels: usize,
}

impl Default for Nb201RankSpace {
    fn default() -> Self {
        Nb201RankSpace { ops: Nb201Op::ALL.to_vec(), channels: DEFAULT_CHANNELS }
    }
}

const FEATURES: [Feature; 8] = [
    Feature {
        name: "param_free_count",
        high: "cells with more parameter-free ops",
        low: "cells with fewer parameter-free ops",
    },
    Feature { name: "skip_count", high: "cells with more skip-connections", low: "cells with fewer skip-connections" },
    Feature { name: "conv_count", high: "cells with more convolutions", low: "cells with fewer convolutions" },
    Feature { name: "none_count", high: "cells with more `none` edges", low: "cells with fewer `none` edges" },
    Feature { name: "avg_pool_count", high: "cells with more average pooling", low: "cells with less average pooling" },
    Feature { name: super::PARAMS, high: "larger cells (more parameters)", low: "smaller cells (fewer parameters)" },
    Feature {
        name: "depth_conv",
        high: "deeper cells (more convolutions on the longest path)",
        low: "shallower cells (fewer convolutions on the longest path)",
    },
    Feature {
        name: "depth_edges",
        high: "deeper cells (longer input-output paths)",
        low: "shallower cells (shorter input-output paths)",
    },
];

impl Nb201RankSpace {
    pub fn with_ops(ops: Vec<Nb201Op>) -> Self {
        Nb201RankSpace { ops, ..Default::default() }
    }

    /// A cell drawn uniformly: each edge's op independently from `ops`.
    pub fn sample_arch(&self, rng: &mut ChaCha8Rng) -> Nb201Arch {
        let mut a = Nb201Arch { ops: [Nb201Op::None; 6] };
        for slot in a.ops.iter_mut() {
            *slot = self.ops[rng.random_range(0..self.ops.len())];
        }
        a
    }

    /// Every cell of the (sub)space, in NAS-Bench-201 index order.
    pub fn cells(&self) -> Vec<Nb201Arch> {
        (0..NUM_ARCHS)
            .filter_map(|i| Nb201Arch::from_index(i).ok())
            .filter(|a| a.ops.iter().all(|o| self.ops.contains(o)))
            .collect()
    }

    pub fn parse(&self, text: &str) -> Result<Nb201Arch, ArchError> {
        let err = |reason: String| ArchError { space: "nb201", text: text.to_string(), reason };
        let a: Nb201Arch = text.trim().parse().map_err(|e| err(format!("{e}")))?;
        if let Some(op) = a.ops.iter().find(|o| !self.ops.contains(o)) {
            let allowed: Vec<&str> = self.ops.iter().map(|o| o.name()).collect();
            return Err(err(format!(
                "it uses {}, which this space leaves out (ops: {})",
                op.name(),
                allowed.join(", ")
            )));
        }
        Ok(a)
    }
}

/// Parameters of one op inside a cell at `c` channels: conv weights without bias (NB201's convs
/// have `bias = not affine` and affine BN) plus the BN's γ and β.
fn op_params(op: Nb201Op, c: u64) -> u64 {
    match op {
        Nb201Op::NorConv1x1 => c * c + 2 * c,
        Nb201Op::NorConv3x3 => 9 * c * c + 2 * c,
        Nb201Op::None | Nb201Op::SkipConnect | Nb201Op::AvgPool3x3 => 0,
    }
}

/// Approximate parameter count of one cell at `channels` channels. Ops on edges that cannot reach
/// the output still count: the network instantiates them all. The whole network's count (stem,
/// reduction blocks, classifier, three stages) is the engine's job.
pub fn approx_cell_params(arch: &Nb201Arch, channels: usize) -> u64 {
    arch.ops.iter().map(|&op| op_params(op, channels as u64)).sum()
}

/// Longest input-to-output path through non-`none` edges, as (convolutions on the path with the
/// most convolutions, edges on the path with the most edges). (0, 0) when no path reaches the output:
/// such a cell outputs zeros whatever its other edges do.
pub fn cell_depth(arch: &Nb201Arch) -> (usize, usize) {
    let mut conv: [Option<usize>; 4] = [Some(0), None, None, None];
    let mut edges: [Option<usize>; 4] = [Some(0), None, None, None];
    // EDGES is ordered by target node, so every source is final before it is used.
    for (&(to, from), &op) in EDGES.iter().zip(&arch.ops) {
        if op == Nb201Op::None {
            continue;
        }
        let is_conv = matches!(op, Nb201Op::NorConv1x1 | Nb201Op::NorConv3x3) as usize;
        if let Some(c) = conv[from] {
            conv[to] = conv[to].max(Some(c + is_conv));
        }
        if let Some(e) = edges[from] {
            edges[to] = edges[to].max(Some(e + 1));
        }
    }
    (conv[3].unwrap_or(0), edges[3].unwrap_or(0))
}

/// The feature values of one cell, in [`FEATURES`] order.
pub fn cell_features(arch: &Nb201Arch, channels: usize) -> Vec<f64> {
    let (depth_conv, depth_edges) = cell_depth(arch);
    let n = |op| arch.count(op) as f64;
    vec![
        arch.num_param_free() as f64,
        n(Nb201Op::SkipConnect),
        n(Nb201Op::NorConv1x1) + n(Nb201Op::NorConv3x3),
        n(Nb201Op::None),
        n(Nb201Op::AvgPool3x3),
        approx_cell_params(arch, channels) as f64,
        depth_conv as f64,
        depth_edges as f64,
    ]
}

impl RankSpace for Nb201RankSpace {
    fn name(&self) -> &'static str {
        "nb201"
    }

    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        self.parse(text).map(|a| a.to_string())
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> String {
        self.sample_arch(rng).to_string()
    }

    fn enumerate(&self) -> Option<Vec<String>> {
        Some(self.cells().iter().map(Nb201Arch::to_string).collect())
    }

    /// One cell per isomorphism class (6,466 of the full space): every distinct network once.
    fn default_archs(&self) -> &'static str {
        "classes"
    }

    fn index(&self, canonical: &str) -> Option<usize> {
        canonical.parse::<Nb201Arch>().ok().map(|a| a.to_index())
    }

    fn arch_at(&self, index: usize) -> Option<String> {
        Nb201Arch::from_index(index).ok().map(|a| a.to_string())
    }

    fn features(&self) -> &'static [Feature] {
        &FEATURES
    }

    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError> {
        Ok(cell_features(&self.parse(canonical)?, self.channels))
    }

    fn params_note(&self) -> String {
        format!("approximate, one cell at C={}", self.channels)
    }

    /// One slot per edge, named `to<-from` like the arch string's `op~from` inside node `to`'s group.
    fn slots(&self) -> Vec<String> {
        EDGES.iter().map(|(to, from)| format!("{to}<-{from}")).collect()
    }

    fn choices(&self, canonical: &str) -> Result<Vec<String>, ArchError> {
        Ok(self.parse(canonical)?.ops.iter().map(|o| o.name().to_string()).collect())
    }

    /// NAS-Bench-201's own list forms ([`ArchSet`]): also `classes` (one cell per isomorphism class),
    /// indices, and comma-separated lists; `sample:N` draws without replacement from the index order.
    fn resolve_list(&self, spec: &str, seed: u64) -> Result<Vec<String>, ListError> {
        if let Some(listed) = super::csv_list(self, spec) {
            return listed;
        }
        let set: ArchSet = spec.parse().map_err(|e| ListError(format!("{e}")))?;
        let cells = set.resolve(&self.ops, seed).map_err(|e| ListError(format!("{e}")))?;
        Ok(cells.iter().map(Nb201Arch::to_string).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn keeps_the_space_contract() {
        super::super::contract::check(&Nb201RankSpace::default());
        super::super::contract::check(&Nb201RankSpace::with_ops(vec![Nb201Op::SkipConnect, Nb201Op::NorConv3x3]));
    }

    #[test]
    fn a_restricted_space_lists_and_samples_only_its_cells() {
        let s = Nb201RankSpace::with_ops(vec![Nb201Op::SkipConnect, Nb201Op::NorConv3x3]);
        // 2 ops on 6 edges.
        assert_eq!(s.enumerate().unwrap().len(), 64);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        assert!((0..100).all(|_| !s.sample(&mut rng).contains("none")));
        let e = s.canonical("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").unwrap_err().to_string();
        assert!(e.contains("leaves out") && e.contains("skip_connect, nor_conv_3x3"), "{e}");
        let arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
        assert_eq!(s.slots(), ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]);
        assert_eq!(s.choices(arch).unwrap()[..3], ["nor_conv_3x3", "skip_connect", "nor_conv_3x3"]);
        let e = s.canonical("|conv~0|").unwrap_err().to_string();
        assert!(e.starts_with("'|conv~0|' is not a nb201 architecture"), "{e}");
    }

    #[test]
    fn features_by_hand() {
        // Best CIFAR-100 cell: 5 nor_conv_3x3 and one skip. Params at C=16: 5 * (9*256 + 32) = 11,680.
        // Longest path 0→1→2→3 has three 3x3 convs and three edges.
        let best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|";
        let v = Nb201RankSpace::default().feature_values(best).unwrap();
        assert_eq!(v, vec![1.0, 1.0, 5.0, 0.0, 0.0, 11_680.0, 3.0, 3.0]);
        let skip = cell_features(&Nb201Arch::uniform(Nb201Op::SkipConnect), 16);
        assert_eq!(skip, vec![6.0, 6.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0]);
        let none = cell_features(&Nb201Arch::uniform(Nb201Op::None), 16);
        assert_eq!((none[3], none[6], none[7]), (6.0, 0.0, 0.0));
        let arch = |s: &str| s.parse::<Nb201Arch>().unwrap();
        // One 1x1 conv at C=32: 32² + 64 = 1088.
        assert_eq!(approx_cell_params(&arch("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|"), 32), 1088);
        // A deep conv chain 0→1→2 that never reaches node 3 does not count: only the skip 3<-0 does.
        let dead_end = arch("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|none~2|");
        assert_eq!(cell_depth(&dead_end), (0, 1));
        // The path with most convs (0→3 via a conv, 1 conv) differs from the longest in edges
        // (0→1→2→3 through skips and a pool, 3 edges, 0 convs).
        let split = arch("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|nor_conv_1x1~0|none~1|skip_connect~2|");
        assert_eq!(cell_depth(&split), (1, 3));
        // Output reachable only through node 1: 0→1 (conv) →3 (conv).
        let via1 = arch("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|");
        assert_eq!(cell_depth(&via1), (2, 2));
    }
}
