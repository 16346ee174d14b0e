//! The NAS-Bench-201 search network (AutoDL's `TinyNetworkDarts`; docs/algorithms.md#nb201): the benchmark's
//! skeleton with a mixed op on every cell edge, one α (6 edges × 5 ops) shared by all cells.

use super::mixed_op::{forward_out_edges, MixedOp, OutEdge};
use super::supernet::{ArchCell, ImageSupernet, Supernet};
use crate::device::init_on_cpu;
use crate::nn::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use crate::nn::nb201_net::ResNetBasicBlock;
use crate::nn::ops::BnMode;
use oxnas_core::config::Execution;
use oxnas_core::nb201::{Nb201Op, EDGES};
use serde::{Deserialize, Serialize};
use tch::{nn::Path, nn::VarStore, Device, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201SupernetConfig {
    pub channels: i64,
    pub cells_per_stage: i64,
    pub num_classes: i64,
    pub in_channels: i64,
    /// BN running statistics in the search cells; the reference scripts take it as a flag (0/1).
    /// Without them, BN normalises with batch statistics in evaluation mode too.
    pub track_running_stats: bool,
    /// avg_pool_3x3 followed by a BN without affine parameters (DARTS's search-cell pooling).
    #[serde(default)]
    pub pool_bn: bool,
    #[serde(default)]
    pub execution: Execution,
}

struct SearchCell {
    edges: Vec<MixedOp>,
}

impl SearchCell {
    fn new(p: &Path, c: i64, bn: BnMode, pool_bn: bool) -> Self {
        let edges = EDGES
            .iter()
            .map(|&(to, from)| MixedOp::nb201(&(p / "edges" / format!("{to}<-{from}")), c, bn, pool_bn))
            .collect();
        SearchCell { edges }
    }

    /// Nodes are completed in order; each node's out-edges then run together (`execution`) and add
    /// into the nodes they feed. A node's inputs are summed in source order, the reference's order.
    fn forward_t(&self, x: &Tensor, arch: &ArchCell, weights: &[Option<Tensor>], run: (bool, Execution)) -> Tensor {
        let (train, execution) = run;
        let mut sums: Vec<Option<Tensor>> = (0..4).map(|_| None).collect();
        let mut node = x.shallow_clone();
        for from in 0..3 {
            let out: Vec<usize> = (0..EDGES.len()).filter(|&e| EDGES[e].1 == from).collect();
            let edges: Vec<OutEdge> = out
                .iter()
                .map(|&e| OutEdge { op: &self.edges[e], state: arch.states[e], weights: weights[e].as_ref() })
                .collect();
            for (&e, y) in out.iter().zip(forward_out_edges(&node, &edges, train, execution)) {
                let to = EDGES[e].0;
                if let Some(y) = y {
                    sums[to] = Some(match sums[to].take() {
                        Some(s) => s + y,
                        None => y,
                    });
                }
            }
            // A node whose edges are all pruned outputs zeros (NB201 never prunes, but stay total).
            node = sums[from + 1].take().unwrap_or_else(|| x.zeros_like());
        }
        node
    }
}

#[allow(clippy::large_enum_variant)] // built once per network: boxing would only add an indirection per forward
enum Block {
    Cell(SearchCell),
    Reduction(ResNetBasicBlock),
}

pub struct Nb201Supernet {
    vs: VarStore,
    stem_conv: Conv2d,
    stem_bn: BatchNorm2d,
    blocks: Vec<Block>,
    last_bn: BatchNorm2d,
    classifier: Linear,
    arch: Vec<ArchCell>,
    pub config: Nb201SupernetConfig,
}

impl Nb201Supernet {
    pub fn new(cfg: &Nb201SupernetConfig, device: Device) -> Self {
        let (vs, (stem_conv, stem_bn, blocks, last_bn, classifier)) = init_on_cpu(device, |vs| {
            let p = vs.root();
            let c = cfg.channels;
            let bn = BnMode { affine: false, track_running_stats: cfg.track_running_stats };
            let stem_conv = Conv2d::new(&(&p / "stem" / 0), ConvSpec::new(cfg.in_channels, c, 3).padding(1));
            let stem_bn = BatchNorm2d::new(&(&p / "stem" / 1), c, true, true);
            let mut blocks = Vec::new();
            let mut c_prev = c;
            for stage in 0..3 {
                let cs = c << stage;
                if stage > 0 {
                    let k = blocks.len();
                    blocks.push(Block::Reduction(ResNetBasicBlock::new(&(&p / "cells" / k), c_prev, cs)));
                }
                for _ in 0..cfg.cells_per_stage {
                    let k = blocks.len();
                    blocks.push(Block::Cell(SearchCell::new(&(&p / "cells" / k), cs, bn, cfg.pool_bn)));
                }
                c_prev = cs;
            }
            let last_bn = BatchNorm2d::new(&(&p / "lastact" / 0), c_prev, true, true);
            let classifier = Linear::new(&(&p / "classifier"), c_prev, cfg.num_classes);
            (stem_conv, stem_bn, blocks, last_bn, classifier)
        });
        let arch = vec![ArchCell::new(device, "cell", EDGES.len(), Nb201Op::ALL.len())];
        Nb201Supernet { vs, stem_conv, stem_bn, blocks, last_bn, classifier, arch, config: cfg.clone() }
    }
}

impl ImageSupernet for Nb201Supernet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let weights = self.arch[0].weights();
        let run = (train, self.config.execution);
        // Fused NB201 stays NCHW: its dense 1x1/3x3 convs gain nothing from channels-last on CPU, and
        // libtorch's channels-last BN is slower on its few channels (C = 4..16 per edge).
        let mut h = self.stem_bn.forward_t(&self.stem_conv.forward(x), train);
        for b in &self.blocks {
            h = match b {
                Block::Cell(c) => c.forward_t(&h, &self.arch[0], &weights, run),
                Block::Reduction(r) => r.forward_t(&h, train),
            };
        }
        let h = self.last_bn.forward_t(&h, train).relu().adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        self.classifier.forward(&h)
    }
}

impl Supernet for Nb201Supernet {
    fn weights(&self) -> &VarStore {
        &self.vs
    }

    fn arch(&self) -> &[ArchCell] {
        &self.arch
    }

    fn arch_mut(&mut self) -> &mut [ArchCell] {
        &mut self.arch
    }
}
