//! Single-path NAS-Bench-101: the one-shot net of NAS-Bench-1Shot1's search space 1 (Zela et al.
//! 2020) running one cell. docs/nb101.md ("The one-shot supernet") explains the formulation.
//!
//! Every choice block of a cell is `C` channels wide (C doubles per stack), so a block's weights fit
//! every architecture. A block sums its parent blocks' outputs and, when the input is a parent, its
//! own 1x1 conv+BN+ReLU projection of the cell input, then runs the op the path picks (its conv3x3 or
//! conv1x1, each with its own weights, or a max-pool). The cell output concatenates all four blocks
//! (zeros for a block that does not feed the output, so the width stays 4C) plus a projection of the
//! input to 4C when the input feeds the output. After the last cell a ReLU-conv1x1-BN maps 4C to C,
//! then global average pooling and a linear classifier, as in NAS-Bench-1Shot1's one-shot model.

use super::SinglePathNet;
use crate::nn::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use crate::nn::nb101_net::{downsample, max_pool3x3, sum_all, ConvBnRelu};
use crate::nn::ops::BnMode;
use oxnas_core::config::Nb101OneShot;
use oxnas_core::nb101::Nb101Op;
use oxnas_core::oneshot::nb101_oneshot::{configurations, Configuration, BLOCKS, VERTICES};
use oxnas_core::oneshot::{ArchError, Nb101OneShotSpace};
use tch::nn::{Path, VarStore};
use tch::{Device, Tensor};

/// The weights of one cell. Variables: `proj.{v}` projects the input to vertex v (1..=4 the blocks,
/// 5 the output), `blocks.{v}.conv3x3` and `blocks.{v}.conv1x1` are block v's two convs.
struct OneShotCell {
    channels: i64,
    proj: Vec<ConvBnRelu>,
    conv3x3: Vec<ConvBnRelu>,
    conv1x1: Vec<ConvBnRelu>,
}

impl OneShotCell {
    fn new(p: &Path, c_in: i64, c: i64, bn: BnMode) -> Self {
        let blocks = 1..=BLOCKS;
        let mut proj: Vec<ConvBnRelu> =
            blocks.clone().map(|v| ConvBnRelu::with_bn(&(p / "proj" / v), c_in, c, 1, bn)).collect();
        proj.push(ConvBnRelu::with_bn(&(p / "proj" / (VERTICES - 1)), c_in, c * BLOCKS as i64, 1, bn));
        let conv = |v: usize, name: &str, k: i64| ConvBnRelu::with_bn(&(p / "blocks" / v / name), c, c, k, bn);
        OneShotCell {
            channels: c,
            proj,
            conv3x3: blocks.clone().map(|v| conv(v, "conv3x3", 3)).collect(),
            conv1x1: blocks.map(|v| conv(v, "conv1x1", 1)).collect(),
        }
    }

    fn forward_t(&self, x: &Tensor, path: &Configuration, train: bool) -> Tensor {
        let out = VERTICES - 1;
        let active = path.active();
        let mut values: Vec<Option<Tensor>> = vec![Some(x.shallow_clone())];
        for (v, &reaches_output) in active.iter().enumerate().take(out).skip(1) {
            if !reaches_output {
                // A loose end: nothing that reaches the output reads it.
                values.push(None);
                continue;
            }
            let from_blocks = (1..v).filter(|&s| path.has_edge(s, v)).map(|s| {
                values[s].as_ref().expect("the parents of a block that reaches the output reach it too").shallow_clone()
            });
            let from_input = path.has_edge(0, v).then(|| self.proj[v - 1].forward_t(x, train));
            let input = sum_all(from_blocks.chain(from_input)).expect("every block has parents");
            values.push(Some(match path.ops[v - 1] {
                Nb101Op::Conv3x3 => self.conv3x3[v - 1].forward_t(&input, train),
                Nb101Op::Conv1x1 => self.conv1x1[v - 1].forward_t(&input, train),
                Nb101Op::MaxPool3x3 => max_pool3x3(&input),
            }));
        }
        let (n, _, h, w) = x.size4().expect("a batch of images");
        let zeros = || Tensor::zeros([n, self.channels, h, w], (x.kind(), x.device()));
        let parts: Vec<Tensor> = (1..out)
            .map(|v| match (&values[v], path.has_edge(v, out)) {
                (Some(t), true) => t.shallow_clone(),
                _ => zeros(),
            })
            .collect();
        let joined = Tensor::cat(&parts, 1);
        match path.has_edge(0, out) {
            true => joined + self.proj[BLOCKS].forward_t(x, train),
            false => joined,
        }
    }
}

pub struct Nb101Supernet {
    vs: VarStore,
    stem: ConvBnRelu,
    /// Cells by stack; every stack after the first starts with a 2x2 max-pool.
    stacks: Vec<Vec<OneShotCell>>,
    post_conv: Conv2d,
    post_bn: BatchNorm2d,
    classifier: Linear,
    space: Nb101OneShotSpace,
    path: Configuration,
}

/// The network of a `[supernet] space = "nb101"` section. It runs the first configuration of the
/// space until a path is set.
pub fn supernet(cfg: &Nb101OneShot, (num_classes, in_channels): (i64, i64), device: Device) -> Nb101Supernet {
    let (vs, (stem, stacks, post_conv, post_bn, classifier)) = crate::device::init_on_cpu(device, |vs| {
        let p = vs.root();
        let bn = BnMode { affine: true, track_running_stats: cfg.track_running_stats };
        let stem = ConvBnRelu::with_bn(&(&p / "stem"), in_channels, cfg.channels, 3, bn);
        let (mut c, mut c_in, mut k) = (cfg.channels, cfg.channels, 0);
        let mut stacks = vec![];
        for stack in 0..3 {
            if stack > 0 {
                c *= 2;
            }
            let mut cells = vec![];
            for _ in 0..cfg.cells_per_stack {
                cells.push(OneShotCell::new(&(&p / "cells" / k), c_in, c, bn));
                c_in = c * BLOCKS as i64;
                k += 1;
            }
            stacks.push(cells);
        }
        // NAS-Bench-1Shot1 maps the last cell's 4C channels back to C without affine BN parameters.
        let post = &p / "postprocess";
        let post_conv = Conv2d::new(&(&post / "conv"), ConvSpec::new(c_in, c, 1));
        let post_bn = BatchNorm2d::new(&(&post / "bn"), c, false, cfg.track_running_stats);
        let classifier = Linear::new(&(&p / "classifier"), c, num_classes);
        (stem, stacks, post_conv, post_bn, classifier)
    });
    let path = configurations()[0];
    Nb101Supernet { vs, stem, stacks, post_conv, post_bn, classifier, space: Nb101OneShotSpace::default(), path }
}

impl Nb101Supernet {
    /// Runs a configuration directly (loose ends included), for tests of the formulation.
    fn forward_configuration(&self, x: &Tensor, path: &Configuration, train: bool) -> Tensor {
        let mut h = self.stem.forward_t(x, train);
        for (stack, cells) in self.stacks.iter().enumerate() {
            if stack > 0 {
                h = downsample(&h);
            }
            for cell in cells {
                h = cell.forward_t(&h, path, train);
            }
        }
        let h = self.post_bn.forward_t(&self.post_conv.forward(&h.relu()), train);
        self.classifier.forward(&h.adaptive_avg_pool2d([1, 1]).flatten(1, -1))
    }
}

impl SinglePathNet for Nb101Supernet {
    fn set_path(&mut self, arch: &str) -> Result<(), ArchError> {
        self.path = self.space.configuration(arch)?;
        Ok(())
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.forward_configuration(x, &self.path, train)
    }

    fn weights(&self) -> &VarStore {
        &self.vs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::oneshot::RankSpace;
    use rand::SeedableRng;
    use tch::Kind;

    fn tiny(track_running_stats: bool) -> Nb101Supernet {
        tch::manual_seed(0);
        let cfg =
            Nb101OneShot { search_space: 1, channels: 2, cells_per_stack: 1, track_running_stats, paths_per_step: 1 };
        supernet(&cfg, (10, 1), Device::Cpu)
    }

    fn images() -> Tensor {
        tch::manual_seed(1);
        Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu))
    }

    #[test]
    fn isomorphic_spellings_give_identical_outputs() {
        let mut net = tiny(true);
        let x = images();
        // Two blocks read the input and the first block and feed the output; they swap places.
        net.set_path("331:1110/110/01/1").unwrap();
        let a = net.forward_t(&x, false);
        net.set_path("313:1110/110/01/1").unwrap();
        let b = net.forward_t(&x, false);
        assert_eq!(a.size(), [2, 10]);
        assert!(a.equal(&b));
        // The JSON spelling of the same cell too.
        let json = r#"{"matrix": [[0,1,1,1,0],[0,0,1,1,0],[0,0,0,0,1],[0,0,0,0,1],[0,0,0,0,0]],
            "ops": ["input","conv3x3-bn-relu","conv1x1-bn-relu","conv3x3-bn-relu","output"]}"#;
        net.set_path(json).unwrap();
        assert!(net.forward_t(&x, false).equal(&b));
        // Another cell computes something else.
        net.set_path("333:1110/110/01/1").unwrap();
        assert!(!net.forward_t(&x, false).equal(&a));
    }

    #[test]
    fn cells_outside_the_one_shot_space_are_refused() {
        let mut net = tiny(true);
        net.set_path("3:11/1").unwrap();
        let before = net.path;
        for cell in ["1333m:111010/00001/0001/100/01/1", ":1", "31:111/01/1"] {
            let e = net.set_path(cell).unwrap_err();
            assert_eq!(e.space, "nb101");
            assert!(e.reason.contains("not in NAS-Bench-1Shot1 search space 1"), "{e}");
        }
        let e = net.set_path("not a cell").unwrap_err();
        assert!(e.reason.contains("short form"), "{e}");
        assert_eq!(net.path, before, "a refused path leaves the net as it was");
    }

    #[test]
    fn loose_ends_change_nothing() {
        let net = tiny(false);
        let x = images();
        // Block 2 is a loose end (it feeds nothing); its op does not matter.
        let mut c = Configuration {
            ops: [Nb101Op::Conv3x3, Nb101Op::MaxPool3x3, Nb101Op::Conv1x1, Nb101Op::Conv3x3],
            parents: [0, 0b1, 0b11, 0b11, 0b1010, 0b11000],
        };
        let a = net.forward_configuration(&x, &c, false);
        c.ops[1] = Nb101Op::Conv3x3;
        assert!(net.forward_configuration(&x, &c, false).equal(&a));
        c.ops[2] = Nb101Op::Conv3x3;
        assert!(!net.forward_configuration(&x, &c, false).equal(&a));
    }

    #[test]
    fn a_path_trains_only_its_own_weights() {
        let mut net = tiny(true);
        // Block 1 conv3x3 (input only), output reads the input and block 1: blocks 2-4 are loose ends.
        net.set_path("3:11/1").unwrap();
        let loss = net.forward_t(&images(), true).sum(Kind::Float);
        loss.backward();
        let with_grad: Vec<String> = net
            .weights()
            .variables()
            .into_iter()
            .filter(|(n, t)| {
                n.starts_with("cells.0.")
                    && t.grad().defined()
                    && t.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0
            })
            .map(|(n, _)| n)
            .collect();
        let mut with_grad: Vec<&str> = with_grad.iter().map(|n| n.rsplit_once('.').unwrap().0).collect();
        with_grad.sort();
        with_grad.dedup();
        assert_eq!(
            with_grad,
            [
                "cells.0.blocks.1.conv3x3.bn",
                "cells.0.blocks.1.conv3x3.conv",
                "cells.0.proj.1.bn",
                "cells.0.proj.1.conv",
                "cells.0.proj.5.bn",
                "cells.0.proj.5.conv"
            ]
        );
    }

    #[test]
    fn every_sampled_cell_runs() {
        let mut net = tiny(true);
        let space = Nb101OneShotSpace::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let x = images();
        for _ in 0..20 {
            net.set_path(&space.sample(&mut rng)).unwrap();
            let y = net.forward_t(&x, true);
            assert_eq!(y.size(), [2, 10]);
            assert_eq!(y.isfinite().all().int64_value(&[]), 1);
        }
    }
}
