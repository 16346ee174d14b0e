//! The NAS-Bench-201 search network (AutoDL's `TinyNetworkDarts`; docs/algorithms.md#nb201): the benchmark's
//! skeleton with a mixed op on every cell edge, one α (6 edges × 5 ops) shared by all cells.

use super::mixed_op::MixedOp;
use super::supernet::{ArchCell, ImageSupernet, Supernet};
use crate::nn::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use crate::nn::nb201_net::ResNetBasicBlock;
use crate::nn::ops::BnMode;
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
}

struct SearchCell {
    edges: Vec<MixedOp>,
}

impl SearchCell {
    fn new(p: &Path, c: i64, bn: BnMode) -> Self {
        let edges =
            EDGES.iter().map(|&(to, from)| MixedOp::nb201(&(p / "edges" / format!("{to}<-{from}")), c, bn)).collect();
        SearchCell { edges }
    }

    fn forward_t(&self, x: &Tensor, arch: &ArchCell, weights: &[Option<Tensor>], train: bool) -> Tensor {
        let mut nodes = vec![x.shallow_clone()];
        for to in 1..=3 {
            let mut sum: Option<Tensor> = None;
            for (e, &(t, from)) in EDGES.iter().enumerate() {
                if t != to {
                    continue;
                }
                if let Some(out) = self.edges[e].forward_t(&nodes[from], arch.states[e], weights[e].as_ref(), train) {
                    sum = Some(match sum {
                        Some(s) => s + out,
                        None => out,
                    });
                }
            }
            // A node whose edges are all pruned outputs zeros (NB201 never prunes, but stay total).
            nodes.push(sum.unwrap_or_else(|| nodes[0].zeros_like()));
        }
        nodes.pop().expect("node 3")
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
        let vs = VarStore::new(device);
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
                blocks.push(Block::Cell(SearchCell::new(&(&p / "cells" / k), cs, bn)));
            }
            c_prev = cs;
        }
        let last_bn = BatchNorm2d::new(&(&p / "lastact" / 0), c_prev, true, true);
        let classifier = Linear::new(&(&p / "classifier"), c_prev, cfg.num_classes);
        let arch = vec![ArchCell::new(device, "cell", EDGES.len(), Nb201Op::ALL.len())];
        Nb201Supernet { vs, stem_conv, stem_bn, blocks, last_bn, classifier, arch, config: cfg.clone() }
    }
}

impl ImageSupernet for Nb201Supernet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let weights = self.arch[0].weights();
        let mut h = self.stem_bn.forward_t(&self.stem_conv.forward(x), train);
        for b in &self.blocks {
            h = match b {
                Block::Cell(c) => c.forward_t(&h, &self.arch[0], &weights, train),
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
