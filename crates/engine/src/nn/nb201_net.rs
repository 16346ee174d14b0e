//! The NAS-Bench-201 evaluation network (AutoDL's `TinyNetwork` with `InferCell`s; see
//! docs/algorithms.md#nb201): stem → N cells (C) → residual reduction → N cells (2C) → residual
//! reduction → N cells (4C) → BN+ReLU → global average pool → linear.

use super::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use super::ops::{BnMode, Op, ReluConvBn};
use oxnas_core::nb201::{Nb201Arch, EDGES};
use serde::{Deserialize, Serialize};
use tch::{nn::Path, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb201NetConfig {
    /// Channels of the first stage (the benchmark uses 16).
    pub channels: i64,
    /// Cells per stage (the benchmark uses 5).
    pub cells_per_stage: i64,
    pub num_classes: i64,
    pub in_channels: i64,
}

impl Default for Nb201NetConfig {
    fn default() -> Self {
        Nb201NetConfig { channels: 16, cells_per_stage: 5, num_classes: 10, in_channels: 3 }
    }
}

impl Nb201NetConfig {
    pub fn init(&self, p: &Path, arch: &Nb201Arch) -> Nb201Network {
        Nb201Network::new(p, self, arch)
    }
}

/// One NB201 cell with a fixed op per edge. Every edge owns a module slot, `none` included, in edge
/// order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2: that is the reference's `layers.{k}` numbering.
#[derive(Debug)]
pub struct InferCell {
    layers: Vec<Op>,
}

impl InferCell {
    fn new(p: &Path, arch: &Nb201Arch, c: i64) -> Self {
        let layers = arch
            .ops
            .iter()
            .enumerate()
            .map(|(k, &op)| Op::nb201(&(p / "layers" / k), op, c, c, 1, BnMode::EVAL))
            .collect();
        InferCell { layers }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut nodes: Vec<Tensor> = vec![x.shallow_clone()];
        for to in 1..=3 {
            let mut sum: Option<Tensor> = None;
            for (k, &(t, from)) in EDGES.iter().enumerate() {
                if t != to {
                    continue;
                }
                let out = self.layers[k].forward_t(&nodes[from], train);
                sum = Some(match sum {
                    Some(s) => s + out,
                    None => out,
                });
            }
            nodes.push(sum.expect("every NB201 node has at least one incoming edge"));
        }
        nodes.pop().expect("node 3 exists")
    }
}

/// ResNet basic block with stride 2: the reduction between NB201 stages.
#[derive(Debug)]
pub struct ResNetBasicBlock {
    conv_a: ReluConvBn,
    conv_b: ReluConvBn,
    downsample: Conv2d,
}

impl ResNetBasicBlock {
    pub fn new(p: &Path, c_in: i64, c_out: i64) -> Self {
        ResNetBasicBlock {
            conv_a: ReluConvBn::new(&(p / "conv_a"), ConvSpec::new(c_in, c_out, 3).stride(2).padding(1), BnMode::EVAL),
            conv_b: ReluConvBn::new(&(p / "conv_b"), ConvSpec::new(c_out, c_out, 3).padding(1), BnMode::EVAL),
            // downsample = Sequential(AvgPool2d(2, 2), Conv1x1): the conv is index 1.
            downsample: Conv2d::new(&(p / "downsample" / 1), ConvSpec::new(c_in, c_out, 1)),
        }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let residual = self.downsample.forward(&x.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>));
        residual + self.conv_b.forward_t(&self.conv_a.forward_t(x, train), train)
    }
}

#[allow(clippy::large_enum_variant)] // built once per network: boxing would only add an indirection per forward
#[derive(Debug)]
enum Block {
    Cell(InferCell),
    Reduction(ResNetBasicBlock),
}

#[derive(Debug)]
pub struct Nb201Network {
    stem_conv: Conv2d,
    stem_bn: BatchNorm2d,
    cells: Vec<Block>,
    last_bn: BatchNorm2d,
    classifier: Linear,
}

impl Nb201Network {
    pub fn new(p: &Path, cfg: &Nb201NetConfig, arch: &Nb201Arch) -> Self {
        let c = cfg.channels;
        let stem_conv = Conv2d::new(&(p / "stem" / 0), ConvSpec::new(cfg.in_channels, c, 3).padding(1));
        let stem_bn = BatchNorm2d::new(&(p / "stem" / 1), c, true, true);
        let mut cells = Vec::new();
        let mut c_prev = c;
        for stage in 0..3 {
            let c_stage = c << stage;
            if stage > 0 {
                let k = cells.len();
                cells.push(Block::Reduction(ResNetBasicBlock::new(&(p / "cells" / k), c_prev, c_stage)));
            }
            for _ in 0..cfg.cells_per_stage {
                let k = cells.len();
                cells.push(Block::Cell(InferCell::new(&(p / "cells" / k), arch, c_stage)));
            }
            c_prev = c_stage;
        }
        Nb201Network {
            stem_conv,
            stem_bn,
            cells,
            last_bn: BatchNorm2d::new(&(p / "lastact" / 0), c_prev, true, true),
            classifier: Linear::new(&(p / "classifier"), c_prev, cfg.num_classes),
        }
    }

    /// Logits for a batch `N×C×H×W`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem_bn.forward_t(&self.stem_conv.forward(x), train);
        for block in &self.cells {
            h = match block {
                Block::Cell(cell) => cell.forward_t(&h, train),
                Block::Reduction(block) => block.forward_t(&h, train),
            };
        }
        let h = self.last_bn.forward_t(&h, train).relu().adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        self.classifier.forward(&h)
    }
}
