//! Parameters and FLOPs of the evaluation network the benchmark trained, counted analytically.
//!
//! The network (the benchmark's model builder, with its default configuration):
//!
//! - stem: conv3x3 (no bias) + BN + ReLU from the image to 128 channels;
//! - 3 stacks of 3 cells; before stacks 2 and 3 a 2x2/2 max-pool halves the resolution and the
//!   cells' output channels double (128, 256, 512);
//! - inside a cell with `cin` input and `cout` output channels, [`vertex_channels`] fixes each
//!   vertex's width. A vertex sums its inputs: other vertices' outputs, truncated to its width, and
//!   a 1x1 conv+BN+ReLU projection of the cell input when the input feeds it; then applies its op
//!   (3x3 or 1x1 conv+BN+ReLU at its own width, or a 3x3/1 max-pool). The output concatenates the
//!   vertices that feed it, plus a projection of the cell input to `cout` when the input feeds the
//!   output directly (only that projection when nothing else does);
//! - global average pool, then a dense layer (with bias) to the classes.
//!
//! Parameters are the trainable ones, as the benchmark's `trainable_parameters`: conv kernels,
//! BN's γ and β (not the running statistics), the dense weights and biases. FLOPs are
//! multiply-accumulates of the convs and the dense layer for one image, as oxnas counts them for
//! the other spaces; pooling, BN, ReLU and sums are not counted.

use super::cell::Cell;
use super::op::Nb101Op;

/// The evaluation network's shape. [`NetConfig::default`] is the benchmark's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    pub stem_channels: u64,
    pub stacks: usize,
    pub cells_per_stack: usize,
    pub classes: u64,
    pub in_channels: u64,
    /// Height and width of the (square) input image.
    pub image_size: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig { stem_channels: 128, stacks: 3, cells_per_stack: 3, classes: 10, in_channels: 3, image_size: 32 }
    }
}

/// What a network costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetCost {
    pub params: u64,
    /// Multiply-accumulates for one image.
    pub flops: u64,
}

impl NetCost {
    /// A k×k conv (no bias) with BN, from `cin` to `cout` channels at `hw`×`hw`.
    fn conv_bn(k: u64, cin: u64, cout: u64, hw: u64) -> NetCost {
        NetCost { params: k * k * cin * cout + 2 * cout, flops: k * k * cin * cout * hw * hw }
    }

    fn add(&mut self, other: NetCost) {
        self.params += other.params;
        self.flops += other.flops;
    }
}

/// The width of every vertex of a cell with `cin` input and `cout` output channels, as the
/// benchmark splits them: the vertices feeding the output share `cout` evenly, the first ones
/// (in vertex order) taking one extra channel each while a remainder is left; every other
/// intermediate vertex is as wide as the widest vertex it feeds. Entry 0 is `cin`, the last `cout`.
pub fn vertex_channels(cell: &Cell, cin: u64, cout: u64) -> Vec<u64> {
    let n = cell.vertices();
    let out = n - 1;
    let mut ch = vec![0u64; n];
    ch[0] = cin;
    ch[out] = cout;
    if n == 2 {
        return ch;
    }
    // The input's own edge to the output does not take a share: it is a projection added on top.
    let fan_in = (1..out).filter(|&v| cell.has_edge(v, out)).count() as u64;
    let share = cout / fan_in;
    let mut extra = cout % fan_in;
    for (v, c) in ch.iter_mut().enumerate().take(out).skip(1) {
        if cell.has_edge(v, out) {
            *c = share + u64::from(extra > 0);
            extra = extra.saturating_sub(1);
        }
    }
    // Later vertices are final before earlier ones read them.
    for v in (1..out).rev() {
        if !cell.has_edge(v, out) {
            ch[v] = (v + 1..out).filter(|&d| cell.has_edge(v, d)).map(|d| ch[d]).max().unwrap_or(0);
        }
    }
    ch
}

/// One cell from `cin` to `cout` channels at `hw`×`hw`.
pub fn cell_cost(cell: &Cell, cin: u64, cout: u64, hw: u64) -> NetCost {
    let n = cell.vertices();
    let out = n - 1;
    let ch = vertex_channels(cell, cin, cout);
    let mut cost = NetCost::default();
    for (v, (&c, &op)) in ch[1..out].iter().zip(cell.ops()).enumerate().map(|(i, x)| (i + 1, x)) {
        if cell.has_edge(0, v) {
            cost.add(NetCost::conv_bn(1, cin, c, hw));
        }
        match op {
            Nb101Op::Conv3x3 => cost.add(NetCost::conv_bn(3, c, c, hw)),
            Nb101Op::Conv1x1 => cost.add(NetCost::conv_bn(1, c, c, hw)),
            Nb101Op::MaxPool3x3 => {}
        }
    }
    if cell.has_edge(0, out) {
        cost.add(NetCost::conv_bn(1, cin, cout, hw));
    }
    cost
}

/// The whole evaluation network with this cell in every position.
pub fn network_cost(cell: &Cell, cfg: &NetConfig) -> NetCost {
    let mut hw = cfg.image_size;
    let mut cost = NetCost::conv_bn(3, cfg.in_channels, cfg.stem_channels, hw);
    let mut channels = cfg.stem_channels;
    for stack in 0..cfg.stacks {
        let mut cin = channels;
        if stack > 0 {
            // 2x2 max-pool, stride 2, 'same' padding: odd sizes round up.
            hw = hw.div_ceil(2);
            channels *= 2;
        }
        for _ in 0..cfg.cells_per_stack {
            cost.add(cell_cost(cell, cin, channels, hw));
            cin = channels;
        }
    }
    cost.add(NetCost { params: channels * cfg.classes + cfg.classes, flops: channels * cfg.classes });
    cost
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nb101::cell::tests::README_SHORT;

    fn cost(cell: &str) -> NetCost {
        network_cost(&Cell::parse(cell).unwrap(), &NetConfig::default())
    }

    #[test]
    fn readme_cell_has_the_published_parameter_count() {
        // The published `trainable_parameters` of the README's Inception-like cell.
        assert_eq!(cost(README_SHORT).params, 2_694_282);
        // Its stored isomorph counts the same.
        assert_eq!(cost("31m33:111100/00001/0001/001/10/1").params, 2_694_282);
    }

    #[test]
    fn counts_match_the_pytorch_port() {
        // `.bench-venv/bin/python bench/pytorch/nb101_model.py`: an own PyTorch port of the model
        // builder; params from torch's trainable tensors, FLOPs from conv/linear hooks on a real
        // forward pass of one 3x32x32 image. Names as in that script.
        for (name, cell, params, flops) in [
            ("readme", README_SHORT, 2_694_282, 402_002_944),
            ("readme_swapped", "3313m:111010/00001/0001/100/01/1", 2_694_282, 402_002_944),
            ("skip", ":1", 882_570, 137_761_792),
            ("chain5", "33333:100000/10000/1000/100/10/1", 47_358_090, 6_932_534_272),
            ("dangling", "3m:110/01/0", 10_177_674, 1_496_716_288),
            ("dense9", "1m33m:100001/11000/0100/101/10/1", 6_230_410, 922_096_640),
            ("remainder3", "31m:1111/001/01/1", 2_913_959, 441_593_472),
            ("widest", "313:1000/110/01/1", 5_356_682, 787_878_912),
            ("pools", "mm:110/01/1", 882_570, 137_761_792),
        ] {
            assert_eq!(cost(cell), NetCost { params, flops }, "{name}");
        }
        let hundred = NetConfig { classes: 100, ..NetConfig::default() };
        let c = Cell::parse(README_SHORT).unwrap();
        assert_eq!(network_cost(&c, &hundred), NetCost { params: 2_740_452, flops: 402_049_024 });
    }

    #[test]
    fn channel_split_by_hand() {
        // README cell at 128→128: four vertices feed the output, 32 channels each; vertex 3 feeds
        // only vertex 4 and takes its width.
        let c = Cell::parse(README_SHORT).unwrap();
        assert_eq!(vertex_channels(&c, 128, 128), [128, 32, 32, 32, 32, 32, 128]);
        // 256 over three vertices: 86, 85, 85 (the remainder goes to the first).
        let c = Cell::parse("333:1110/001/01/1").unwrap();
        assert_eq!(vertex_channels(&c, 128, 256), [128, 86, 85, 85, 256]);
        // A vertex that does not feed the output takes the widest vertex it feeds: v1 feeds v2
        // (128 of 255) and v3 (127).
        let c = Cell::parse("333:1000/110/01/1").unwrap();
        assert_eq!(vertex_channels(&c, 128, 255), [128, 128, 128, 127, 255]);
        assert_eq!(vertex_channels(&Cell::parse(":1").unwrap(), 64, 128), [64, 128]);
    }
}
