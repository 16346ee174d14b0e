//! The NAS-Bench-101 evaluation network (Ying et al. 2019), as `oxnas_core::nb101::model` counts it
//! and docs/nb101.md describes it: a conv3x3+BN+ReLU stem, stacks of cells with a 2x2/2 max-pool and
//! twice the channels before every stack but the first, global average pooling and a dense layer.
//!
//! Inside a cell each vertex has the width `vertex_channels` gives it. A vertex sums the outputs of
//! the vertices feeding it, cut to its width, and a 1x1 conv+BN+ReLU projection of the cell input
//! when the input feeds it, then applies its op. The cell output concatenates the vertices feeding
//! it, plus a projection of the input when the input feeds the output.
//!
//! BN: the benchmark's TensorFlow BN has ε = 1e-5 (as here) and a running-average decay of 0.997
//! (PyTorch momentum 0.003). We keep the shared BN ([`super::layers::BatchNorm2d`], libtorch's
//! default momentum 0.1): our short runs take hundreds of steps, not the benchmark's 108 epochs, and
//! running statistics at decay 0.997 would still be mostly their initial values at evaluation.

use super::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use super::ops::BnMode;
use oxnas_core::nb101::model::vertex_channels;
use oxnas_core::nb101::{Cell, Nb101Op, NetConfig};
use serde::{Deserialize, Serialize};
use tch::{nn::Path, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nb101NetConfig {
    /// Output channels of the stem and of the first stack (the benchmark uses 128).
    pub stem_channels: i64,
    /// Stacks of cells; every stack after the first halves the resolution and doubles the channels.
    pub stacks: i64,
    pub cells_per_stack: i64,
    pub num_classes: i64,
    pub in_channels: i64,
}

impl Default for Nb101NetConfig {
    /// The benchmark's network: 128-channel stem, 3 stacks of 3 cells, 10 classes, RGB input.
    fn default() -> Self {
        Nb101NetConfig { stem_channels: 128, stacks: 3, cells_per_stack: 3, num_classes: 10, in_channels: 3 }
    }
}

impl Nb101NetConfig {
    pub fn init(&self, p: &Path, cell: &Cell) -> Nb101Network {
        Nb101Network::new(p, self, cell)
    }

    /// The same network in the terms of core's analytic cost model, for square `image_size` inputs.
    pub fn cost_config(&self, image_size: u64) -> NetConfig {
        NetConfig {
            stem_channels: self.stem_channels as u64,
            stacks: self.stacks as usize,
            cells_per_stack: self.cells_per_stack as usize,
            classes: self.num_classes as u64,
            in_channels: self.in_channels as u64,
            image_size,
        }
    }
}

/// Conv (no bias, 'same' padding) → BN → ReLU: the benchmark's `conv_bn_relu`, used by the stem, the
/// conv ops and the input projections.
#[derive(Debug)]
pub struct ConvBnRelu {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBnRelu {
    pub fn new(p: &Path, c_in: i64, c_out: i64, kernel: i64) -> Self {
        ConvBnRelu::with_bn(p, c_in, c_out, kernel, BnMode::EVAL)
    }

    pub fn with_bn(p: &Path, c_in: i64, c_out: i64, kernel: i64, bn: BnMode) -> Self {
        ConvBnRelu {
            conv: Conv2d::new(&(p / "conv"), ConvSpec::new(c_in, c_out, kernel).padding(kernel / 2)),
            bn: BatchNorm2d::new(&(p / "bn"), c_out, bn.affine, bn.track_running_stats),
        }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.conv.forward(x), train).relu()
    }
}

/// 3x3 max-pool, stride 1: the benchmark's `maxpool3x3` (libtorch pads with -inf, as TF's 'same').
pub fn max_pool3x3(x: &Tensor) -> Tensor {
    x.max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false)
}

/// 2x2/2 max-pool between stacks; `ceil_mode` rounds odd sizes up, as TF's 'same' padding does.
pub fn downsample(x: &Tensor) -> Tensor {
    x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], true)
}

/// A conv vertex's op: conv3x3 or conv1x1 at the vertex's width; `None` for a max-pool.
fn vertex_op(p: &Path, op: Nb101Op, c: i64) -> Option<ConvBnRelu> {
    match op {
        Nb101Op::Conv3x3 => Some(ConvBnRelu::new(p, c, c, 3)),
        Nb101Op::Conv1x1 => Some(ConvBnRelu::new(p, c, c, 1)),
        Nb101Op::MaxPool3x3 => None,
    }
}

/// Sums tensors; `None` for none.
pub(crate) fn sum_all(parts: impl IntoIterator<Item = Tensor>) -> Option<Tensor> {
    parts.into_iter().reduce(|a, b| a + b)
}

/// One cell with its own widths. Variables: `proj.{v}` projects the input to vertex `v` (the output
/// vertex included), `ops.{v}` is vertex `v`'s conv.
#[derive(Debug)]
pub struct Nb101Cell {
    cell: Cell,
    widths: Vec<i64>,
    /// Indexed by vertex; `Some` where the input feeds that vertex.
    proj: Vec<Option<ConvBnRelu>>,
    /// Indexed by vertex; `Some` for conv vertices.
    ops: Vec<Option<ConvBnRelu>>,
}

impl Nb101Cell {
    pub fn new(p: &Path, cell: &Cell, c_in: i64, c_out: i64) -> Self {
        let n = cell.vertices();
        let widths: Vec<i64> = vertex_channels(cell, c_in as u64, c_out as u64).into_iter().map(|c| c as i64).collect();
        let proj = (0..n)
            .map(|v| (v > 0 && cell.has_edge(0, v)).then(|| ConvBnRelu::new(&(p / "proj" / v), c_in, widths[v], 1)))
            .collect();
        let mut ops = vec![None];
        ops.extend(cell.ops().iter().enumerate().map(|(i, &op)| vertex_op(&(p / "ops" / (i + 1)), op, widths[i + 1])));
        Nb101Cell { cell: cell.clone(), widths, proj, ops }
    }

    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let out = self.cell.vertices() - 1;
        let mut values: Vec<Tensor> = vec![x.shallow_clone()];
        let mut concat = vec![];
        for v in 1..out {
            let width = self.widths[v];
            let from_vertices = (1..v).filter(|&s| self.cell.has_edge(s, v)).map(|s| values[s].narrow(1, 0, width));
            let from_input = self.proj[v].as_ref().map(|p| p.forward_t(x, train));
            let input = sum_all(from_vertices.chain(from_input)).expect("a pruned cell feeds every vertex");
            let value = match &self.ops[v] {
                Some(conv) => conv.forward_t(&input, train),
                None => max_pool3x3(&input),
            };
            if self.cell.has_edge(v, out) {
                concat.push(value.shallow_clone());
            }
            values.push(value);
        }
        let projected = self.proj[out].as_ref().map(|p| p.forward_t(x, train));
        let joined = (!concat.is_empty()).then(|| Tensor::cat(&concat, 1));
        sum_all(joined.into_iter().chain(projected)).expect("a pruned cell feeds its output")
    }
}

#[derive(Debug)]
pub struct Nb101Network {
    stem: ConvBnRelu,
    /// Cells by stack; every stack after the first starts with a 2x2 max-pool.
    stacks: Vec<Vec<Nb101Cell>>,
    classifier: Linear,
}

impl Nb101Network {
    /// Variables: `stem`, `cells.{k}` (k counts cells over all stacks), `classifier`.
    pub fn new(p: &Path, cfg: &Nb101NetConfig, cell: &Cell) -> Self {
        let stem = ConvBnRelu::new(&(p / "stem"), cfg.in_channels, cfg.stem_channels, 3);
        let mut channels = cfg.stem_channels;
        let mut c_in = channels;
        let mut stacks = vec![];
        let mut k = 0;
        for stack in 0..cfg.stacks {
            if stack > 0 {
                channels *= 2;
            }
            let mut cells = vec![];
            for _ in 0..cfg.cells_per_stack {
                cells.push(Nb101Cell::new(&(p / "cells" / k), cell, c_in, channels));
                c_in = channels;
                k += 1;
            }
            stacks.push(cells);
        }
        Nb101Network { stem, stacks, classifier: Linear::new(&(p / "classifier"), c_in, cfg.num_classes) }
    }

    /// Logits for a batch `N×C×H×W`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem.forward_t(x, train);
        for (stack, cells) in self.stacks.iter().enumerate() {
            if stack > 0 {
                h = downsample(&h);
            }
            for cell in cells {
                h = cell.forward_t(&h, train);
            }
        }
        self.classifier.forward(&h.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::count_macs;
    use oxnas_core::nb101::network_cost;
    use tch::{nn::VarStore, Device, Kind};

    const README: &str = "1333m:111010/00001/0001/100/01/1";

    fn build(cfg: &Nb101NetConfig, cell: &str) -> (VarStore, Nb101Network) {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let net = cfg.init(&vs.root(), &Cell::parse(cell).unwrap());
        (vs, net)
    }

    fn trainable(vs: &VarStore) -> u64 {
        vs.trainable_variables().iter().map(|t| t.numel() as u64).sum()
    }

    fn small() -> Nb101NetConfig {
        Nb101NetConfig { stem_channels: 16, stacks: 3, cells_per_stack: 1, num_classes: 10, in_channels: 1 }
    }

    /// A cell whose JSON needs pruning: vertex 2 is fed by the input but feeds nothing.
    const NEEDS_PRUNING: &str = r#"{"matrix": [[0,1,1,0],[0,0,0,1],[0,0,0,0],[0,0,0,0]],
        "ops": ["input","conv3x3-bn-relu","maxpool3x3","output"]}"#;

    #[test]
    fn the_benchmark_network_has_the_published_parameter_count() {
        let (vs, _) = build(&Nb101NetConfig::default(), README);
        assert_eq!(trainable(&vs), 2_694_282);
    }

    #[test]
    fn parameters_match_the_analytic_count() {
        let cells = [
            README,
            "31m:1111/001/01/1", // input→output edge, uneven split
            ":1",                // only input→output
            NEEDS_PRUNING,
            "313:1000/110/01/1", // a vertex as wide as the widest one it feeds
            "1m33m:100001/11000/0100/101/10/1",
        ];
        for cfg in [Nb101NetConfig::default(), small()] {
            for cell in cells {
                let (vs, _) = build(&cfg, cell);
                let expected = network_cost(&Cell::parse(cell).unwrap(), &cfg.cost_config(32)).params;
                assert_eq!(trainable(&vs), expected, "{cell} at stem {}", cfg.stem_channels);
            }
        }
        // The pruned vertex gets no variables: the JSON cell is '3:10/1'.
        let (a, _) = build(&small(), NEEDS_PRUNING);
        let (b, _) = build(&small(), "3:10/1");
        assert_eq!(trainable(&a), trainable(&b));
    }

    #[test]
    fn forward_runs_every_conv_the_cost_model_counts() {
        // MACs of one real forward pass at 28x28 equal core's analytic FLOPs: every conv runs at the
        // width and resolution the benchmark's model gives it.
        for cell in [README, "31m:1111/001/01/1", ":1", "313:1000/110/01/1"] {
            let cfg = small();
            let (_, net) = build(&cfg, cell);
            let x = Tensor::randn([1, 1, 28, 28], (Kind::Float, Device::Cpu));
            let (y, macs) = count_macs(|| net.forward_t(&x, false));
            assert_eq!(y.size(), [1, 10]);
            assert_eq!(macs, network_cost(&Cell::parse(cell).unwrap(), &cfg.cost_config(28)).flops, "{cell}");
        }
    }

    #[test]
    fn forward_shapes_on_fashion_mnist_images() {
        let (_, net) = build(&small(), README);
        let x = Tensor::randn([3, 1, 28, 28], (Kind::Float, Device::Cpu));
        let y = net.forward_t(&x, true);
        assert_eq!(y.size(), [3, 10]);
        assert!(y.isfinite().all().int64_value(&[]) == 1);
        // Two 2x2 pools: 28 → 14 → 7; odd sizes round up (15 → 8 → 4).
        let x = Tensor::randn([2, 1, 15, 15], (Kind::Float, Device::Cpu));
        assert_eq!(net.forward_t(&x, false).size(), [2, 10]);
    }

    #[test]
    fn variables_are_named_by_cell_and_vertex() {
        let (vs, _) = build(&small(), "31m:1111/001/01/1");
        let mut names: Vec<String> = vs.variables().into_keys().filter(|n| n.starts_with("cells.0.")).collect();
        names.sort();
        let expected = ["bn.bias", "bn.running_mean", "bn.running_var", "bn.weight", "conv.weight"];
        let mut want: Vec<String> = vec![];
        // Input feeds vertices 1, 2, 3 and the output (4); vertices 1 and 2 are convs, 3 a pool.
        for prefix in ["ops.1", "ops.2", "proj.1", "proj.2", "proj.3", "proj.4"] {
            want.extend(expected.iter().map(|e| format!("cells.0.{prefix}.{e}")));
        }
        want.sort();
        assert_eq!(names, want);
    }
}
