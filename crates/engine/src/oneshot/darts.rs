//! Single-path DARTS: the DARTS search network ([`DartsSupernet`]) running one genotype. Each
//! edge a cell's genotype uses is fixed to its op, every other edge is pruned, so a node sums exactly
//! its two chosen inputs' ops, as in the evaluation network's cell.

use super::SinglePathNet;
use crate::search::{DartsSupernet, DartsSupernetConfig, EdgeState, ImageSupernet, Supernet};
use oxnas_core::config::Execution;
use oxnas_core::darts::{CellKind, DartsOp, OpSet};
use oxnas_core::oneshot::darts::{DartsRankSpace, STEPS};
use oxnas_core::oneshot::ArchError;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// The search network of a `[supernet] space = "darts"` section: 4 nodes per cell, `ops` on every edge.
pub fn supernet(
    ops: OpSet,
    channels: i64,
    layers: i64,
    track_running_stats: bool,
    (num_classes, in_channels): (i64, i64),
    device: Device,
) -> DartsSupernet {
    let cfg = DartsSupernetConfig {
        channels,
        layers,
        steps: STEPS,
        num_classes,
        in_channels,
        ops,
        track_running_stats,
        execution: Execution::PerEdge,
    };
    DartsSupernet::new(&cfg, device)
}

/// Edge states of one cell: edge `offset(node) + input` carries the op's column in `ops`.
fn cell_states(pairs: &[(DartsOp, usize)], ops: &OpSet) -> Vec<EdgeState> {
    let edges: usize = (0..STEPS).map(|i| i + 2).sum();
    let mut states = vec![EdgeState::Pruned; edges];
    let mut offset = 0;
    for (node, pair) in pairs.chunks(2).enumerate() {
        for &(op, input) in pair {
            let column = ops.index_of(op).expect("the rank space checked the op against the net's op set");
            states[offset + input] = EdgeState::Fixed(column);
        }
        offset += node + 2;
    }
    states
}

impl SinglePathNet for DartsSupernet {
    fn set_path(&mut self, arch: &str) -> Result<(), ArchError> {
        let space = DartsRankSpace::new(self.config.ops.clone());
        let g = space.parse(arch)?;
        // Edge states are set directly: α is unused in single-path training and must stay untouched.
        for (k, cell) in CellKind::BOTH.into_iter().enumerate() {
            self.arch_mut()[k].states = cell_states(g.cell(cell).0, &self.config.ops);
        }
        Ok(())
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        ImageSupernet::forward_t(self, x, train)
    }

    fn weights(&self) -> &VarStore {
        Supernet::weights(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::darts::Genotype;
    use oxnas_core::oneshot::RankSpace;
    use tch::Kind;

    fn tiny(ops: OpSet) -> DartsSupernet {
        tch::manual_seed(0);
        supernet(ops, 2, 3, true, (10, 1), Device::Cpu)
    }

    #[test]
    fn set_path_fixes_the_genotypes_edges_and_prunes_the_rest() {
        let mut net = tiny(OpSet::darts());
        net.set_path("DARTS_V2").unwrap();
        use EdgeState::*;
        // Normal cell, edges by node: 2 <- {0, 1}, 3 <- {0, 1, 2}, 4 <- {0..=3}, 5 <- {0..=4}.
        // DARTS_V2: node 2 sep3(0) sep3(1); node 3 sep3(0) sep3(1); node 4 skip(0) sep3(1);
        // node 5 skip(0) dil3(2). Columns in the 8-op set: skip 3, sep3 4, dil3 6.
        let normal = [
            Fixed(4),
            Fixed(4),
            Fixed(4),
            Fixed(4),
            Pruned,
            Fixed(3),
            Fixed(4),
            Pruned,
            Pruned,
            Fixed(3),
            Pruned,
            Fixed(6),
            Pruned,
            Pruned,
        ];
        assert_eq!(net.arch()[0].states, normal);
        // Reduce node 5 reads node 2 (skip) and input 1 (max_pool, column 1).
        assert_eq!(net.arch()[1].states[9..], [Pruned, Fixed(1), Fixed(3), Pruned, Pruned]);
    }

    #[test]
    fn spellings_of_one_genotype_give_identical_outputs() {
        let mut net = tiny(OpSet::sgas_es());
        let g = Genotype::named("DARTS_V2").unwrap();
        let mut swapped = g.clone();
        for node in swapped.normal.chunks_mut(2).chain(swapped.reduce.chunks_mut(2)) {
            node.swap(0, 1);
        }
        let x = Tensor::randn([2, 1, 12, 12], (Kind::Float, Device::Cpu));
        net.set_path(&g.to_string()).unwrap();
        let a = SinglePathNet::forward_t(&net, &x, false);
        net.set_path(&swapped.to_json()).unwrap();
        let b = SinglePathNet::forward_t(&net, &x, false);
        assert!(a.equal(&b));
        // A different genotype computes something else.
        let other = DartsRankSpace::new(OpSet::sgas_es())
            .canonical(&g.to_string().replacen("sep_conv_3x3", "max_pool_3x3", 1))
            .unwrap();
        net.set_path(&other).unwrap();
        assert!(!SinglePathNet::forward_t(&net, &x, false).equal(&a));
    }

    #[test]
    fn genotypes_outside_the_space_are_refused() {
        let mut net = tiny(OpSet::sgas_es());
        let g = Genotype::named("DARTS_V2").unwrap().to_string();
        let e = net.set_path(&g.replacen("'skip_connect'", "'none'", 1)).unwrap_err();
        assert_eq!(e.space, "darts");
        assert!(e.reason.contains("never contains 'none'"), "{e}");
        // DARTS_V1 uses avg_pool_3x3, outside the SGAS-es op set the net was built with.
        let e = net.set_path("DARTS_V1").unwrap_err().to_string();
        assert!(e.contains("avg_pool_3x3"), "{e}");
        let before = net.arch()[0].states.clone();
        assert_eq!(before, vec![EdgeState::Mixed; 14], "a refused path leaves the net as it was");
    }
}
