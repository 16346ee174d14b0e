//! The DARTS search network (quark0/darts `model_search.Network`; docs/algorithms.md#darts): 8 cells of 4 steps,
//! a mixed op on each of a cell's 14 edges, α for normal and for reduction cells. Search-time ops
//! use BN without affine parameters, and pooling ops are followed by such a BN.

use super::mixed_op::{forward_out_edges, MixedOp, OutEdge};
use super::supernet::{ArchCell, ImageSupernet, Supernet};
use crate::device::init_on_cpu;
use crate::nn::layers::{store_layout, to_channels_last, BatchNorm2d, Conv2d, ConvSpec, Linear};
use crate::nn::ops::{BnMode, FactorizedReduce, ReluConvBn};
use oxnas_core::config::Execution;
use oxnas_core::darts::OpSet;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use tch::{nn::Path, nn::VarStore, Device, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DartsSupernetConfig {
    pub channels: i64,
    pub layers: i64,
    pub steps: usize,
    pub num_classes: i64,
    pub in_channels: i64,
    pub ops: OpSet,
    /// BN running statistics in the cells; searches keep them (the reference's BN default), a
    /// single-path supernet may leave them out (`[supernet] track_running_stats`).
    #[serde(default = "yes")]
    pub track_running_stats: bool,
    #[serde(default)]
    pub execution: Execution,
}

fn yes() -> bool {
    true
}

impl DartsSupernetConfig {
    pub fn num_edges(&self) -> usize {
        (0..self.steps).map(|i| i + 2).sum()
    }
}

enum Pre0 {
    Reduce(FactorizedReduce),
    Conv(ReluConvBn),
}

struct SearchCell {
    pre0: Pre0,
    pre1: ReluConvBn,
    edges: Vec<MixedOp>,
    steps: usize,
    reduction: bool,
}

impl SearchCell {
    fn new(
        p: &Path,
        cfg: &DartsSupernetConfig,
        (c_pp, c_p, c): (i64, i64, i64),
        reduction: bool,
        reduction_prev: bool,
    ) -> Self {
        let bn = BnMode { track_running_stats: cfg.track_running_stats, ..BnMode::SEARCH };
        let pre0 = if reduction_prev {
            Pre0::Reduce(FactorizedReduce::new(&(p / "preprocess0"), c_pp, c, bn))
        } else {
            Pre0::Conv(ReluConvBn::new(&(p / "preprocess0"), ConvSpec::new(c_pp, c, 1), bn))
        };
        let pre1 = ReluConvBn::new(&(p / "preprocess1"), ConvSpec::new(c_p, c, 1), bn);
        let mut edges = Vec::new();
        for i in 0..cfg.steps {
            for j in 0..i + 2 {
                let stride = if reduction && j < 2 { 2 } else { 1 };
                let k = edges.len();
                edges.push(MixedOp::darts(&(p / "_ops" / k), &cfg.ops, c, stride, bn));
            }
        }
        SearchCell { pre0, pre1, edges, steps: cfg.steps, reduction }
    }

    /// Nodes are completed in order (the two inputs, then each step); a completed node's out-edges
    /// run together (`execution`) and add into the steps they feed. A step's inputs are summed in
    /// source order, the reference's order.
    fn forward_t(
        &self,
        s0: &Tensor,
        s1: &Tensor,
        arch: &ArchCell,
        weights: &[Option<Tensor>],
        run: (bool, Execution),
    ) -> Tensor {
        let (train, execution) = run;
        let s0 = match &self.pre0 {
            Pre0::Reduce(m) => m.forward_t(s0, train),
            Pre0::Conv(m) => m.forward_t(s0, train),
        };
        let mut states = vec![s0, self.pre1.forward_t(s1, train)];
        let mut sums: Vec<Option<Tensor>> = (0..self.steps).map(|_| None).collect();
        for from in 0..self.steps + 1 {
            // Edge (step i, input j) is number i(i+3)/2 + j: steps before i hold 2 + 3 + … + (i+1) edges.
            let out: Vec<(usize, usize)> =
                (from.saturating_sub(1)..self.steps).map(|i| (i, i * (i + 3) / 2 + from)).collect();
            let edges: Vec<OutEdge> = out
                .iter()
                .map(|&(_, e)| OutEdge { op: &self.edges[e], state: arch.states[e], weights: weights[e].as_ref() })
                .collect();
            for (&(i, _), y) in out.iter().zip(forward_out_edges(&states[from], &edges, train, execution)) {
                if let Some(y) = y {
                    sums[i] = Some(match sums[i].take() {
                        Some(s) => s + y,
                        None => y,
                    });
                }
            }
            if from >= 1 {
                let step = from - 1;
                // Every node keeps at least its decided edges; an all-pruned node would be a bug
                // upstream, but zeros of the right shape keep the forward total.
                let s = sums[step].take().unwrap_or_else(|| {
                    let r = if self.reduction { 2 } else { 1 };
                    states[1].slice(2, 0, None, r).slice(3, 0, None, r).zeros_like()
                });
                states.push(s);
            }
        }
        Tensor::cat(&states[states.len() - 4.min(states.len() - 2)..], 1)
    }
}

pub struct DartsSupernet {
    vs: VarStore,
    stem_conv: Conv2d,
    stem_bn: BatchNorm2d,
    cells: Vec<SearchCell>,
    classifier: Linear,
    arch: Vec<ArchCell>,
    pub config: DartsSupernetConfig,
    /// Activations channels-last (the fused form's training passes); see [`layout`].
    channels_last: Cell<bool>,
}

impl DartsSupernet {
    pub fn new(cfg: &DartsSupernetConfig, device: Device) -> Self {
        let (vs, (stem_conv, stem_bn, cells, classifier)) = init_on_cpu(device, |vs| {
            let p = vs.root();
            let multiplier = cfg.steps.min(4) as i64;
            let stem_c = 3 * cfg.channels;
            let stem_conv = Conv2d::new(&(&p / "stem" / 0), ConvSpec::new(cfg.in_channels, stem_c, 3).padding(1));
            let stem_bn = BatchNorm2d::new(&(&p / "stem" / 1), stem_c, true, true);
            let (mut c_pp, mut c_p, mut c) = (stem_c, stem_c, cfg.channels);
            let mut cells = Vec::new();
            let mut reduction_prev = false;
            for i in 0..cfg.layers {
                let reduction = i == cfg.layers / 3 || i == 2 * cfg.layers / 3;
                if reduction {
                    c *= 2;
                }
                cells.push(SearchCell::new(&(&p / "cells" / i), cfg, (c_pp, c_p, c), reduction, reduction_prev));
                reduction_prev = reduction;
                c_pp = c_p;
                c_p = multiplier * c;
            }
            let classifier = Linear::new(&(&p / "classifier"), c_p, cfg.num_classes);
            (stem_conv, stem_bn, cells, classifier)
        });
        let e = cfg.num_edges();
        let k = cfg.ops.len();
        let arch = vec![ArchCell::new(device, "normal", e, k), ArchCell::new(device, "reduce", e, k)];
        let channels_last = cfg.execution == Execution::Fused;
        if channels_last {
            store_layout(&vs, true);
        }
        let channels_last = Cell::new(channels_last);
        DartsSupernet { vs, stem_conv, stem_bn, cells, classifier, arch, config: cfg.clone(), channels_last }
    }
}

impl ImageSupernet for DartsSupernet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let w_normal = self.arch[0].weights();
        let w_reduce = self.arch[1].weights();
        let run = (train, self.config.execution);
        let s = self.stem_bn.forward_t(&layout(self.stem_conv.forward(x), self.channels_last.get()), train);
        let (mut s0, mut s1) = (s.shallow_clone(), s);
        for cell in &self.cells {
            let (arch, w) = if cell.reduction { (&self.arch[1], &w_reduce) } else { (&self.arch[0], &w_normal) };
            let next = cell.forward_t(&s0, &s1, arch, w, run);
            s0 = std::mem::replace(&mut s1, next);
        }
        self.classifier.forward(&s1.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
    }

    /// Fused: NCHW for double backward (weights re-stored, stem output left as it is), then
    /// channels-last again. The per-edge form is NCHW throughout.
    fn set_second_order_form(&self, on: bool) {
        let channels_last = self.config.execution == Execution::Fused && !on;
        if self.channels_last.replace(channels_last) != channels_last {
            store_layout(&self.vs, channels_last);
        }
    }
}

/// The fused form's activations are channels-last from the stem's output on, where libtorch's
/// CPU depthwise convs and max pooling run 4-5x faster than in NCHW. Convs keep the layout of their
/// input, and a 1- or 3-channel image is too thin for the layout to show in its strides, so the
/// stem's output is converted rather than the image.
fn layout(stem_out: Tensor, channels_last: bool) -> Tensor {
    if channels_last {
        to_channels_last(&stem_out)
    } else {
        stem_out
    }
}

impl Supernet for DartsSupernet {
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
