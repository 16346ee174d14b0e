//! Exact parameter and multiply-accumulate counts of a subnet's single-path network.
//!
//! What is counted, following the reference (mit-han-lab/proxylessnas):
//! - **params**: every trainable parameter of the network the subnet selects, i.e. what
//!   `sum(p.numel() for p in net.parameters())` gives for the reference's network after its
//!   mixed ops are replaced by the chosen ones: conv weights (the convs have no bias), BatchNorm γ
//!   and β (2 per channel; running statistics are buffers, not parameters), the classifier's weight
//!   and bias. Skipped (`zero`) blocks and identity shortcuts have none. The supernet's architecture
//!   parameters are not part of a subnet.
//! - **flops**: multiply-accumulates of the convolutions and the classifier, the reference
//!   profiler's convention: a conv costs `out_channels × in_channels / groups × k² × out_h × out_w`,
//!   the classifier `in × out` (its bias is not counted); BatchNorm, activations, residual
//!   additions, pooling and dropout cost nothing. Output sizes are the convs' real ones
//!   (⌈size / stride⌉). The reference profiler computes `⌊size / stride⌋` instead; the two agree
//!   whenever every stride-2 layer sees an even size (224, 32), and differ at 28 (a 7x7 map
//!   downsampled to 4x4, which the reference would count as 3x3); see docs/proxyless.md.

use std::ops::{Add, AddAssign};

use super::backbone::Backbone;
use super::subnet::{Subnet, SubnetError};

/// Parameters and multiply-accumulates (called FLOPs, as the reference does).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub params: u64,
    pub flops: u64,
}

impl Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost { params: self.params + o.params, flops: self.flops + o.flops }
    }
}

impl AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        *self = *self + o;
    }
}

/// A subnet's cost by part of the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostBreakdown {
    /// The first conv (with its BN).
    pub stem: Cost,
    /// The fixed expand-1 MBConv block.
    pub first_block: Cost,
    /// One entry per searchable block, zero for skipped ones.
    pub blocks: Vec<Cost>,
    /// The 1x1 feature-mix conv (with its BN).
    pub feature_mix: Cost,
    pub classifier: Cost,
}

impl CostBreakdown {
    pub fn total(&self) -> Cost {
        let mut t = self.stem + self.first_block + self.feature_mix + self.classifier;
        for &b in &self.blocks {
            t += b;
        }
        t
    }
}

/// A bias-free conv at `out_size`² output positions.
fn conv(cin: usize, cout: usize, k: usize, groups: usize, out_size: usize) -> Cost {
    let params = (cout * (cin / groups) * k * k) as u64;
    Cost { params, flops: params * (out_size * out_size) as u64 }
}

/// BatchNorm's γ and β.
fn bn(channels: usize) -> Cost {
    Cost { params: 2 * channels as u64, flops: 0 }
}

/// An inverted-residual block: a 1x1 expansion to `cin × expand` channels (left out at expand 1),
/// a k×k depthwise conv with the stride, a 1x1 linear projection; each conv followed by BN.
fn mbconv(cin: usize, cout: usize, kernel: usize, expand: usize, stride: usize, in_size: usize) -> Cost {
    let mid = cin * expand;
    let out_size = super::backbone::conv_out_size(in_size, stride);
    let mut c = Cost::default();
    if expand != 1 {
        c += conv(cin, mid, 1, 1, in_size) + bn(mid);
    }
    c += conv(mid, mid, kernel, mid, out_size) + bn(mid);
    c + conv(mid, cout, 1, 1, out_size) + bn(cout)
}

impl Backbone {
    /// The cost of each part of the subnet's network.
    pub fn cost_breakdown(&self, subnet: &Subnet) -> Result<CostBreakdown, SubnetError> {
        // A subnet checked against another backbone may not fit this one.
        let subnet = self.subnet(subnet.choices().to_vec())?;
        let cfg = &self.config;
        let stem = conv(cfg.in_channels, self.stem_width, 3, 1, self.stem_size) + bn(self.stem_width);
        let first_block = mbconv(self.stem_width, self.first_block_width, 3, 1, 1, self.stem_size);
        let blocks = self
            .blocks
            .iter()
            .zip(subnet.choices())
            .map(|(b, &choice)| match (choice.kernel(), choice.expand()) {
                (Some(k), Some(e)) => mbconv(b.in_width, b.out_width, k, e, b.stride, b.in_size),
                _ => Cost::default(),
            })
            .collect();
        let feature_mix =
            conv(self.last_width(), self.feature_mix_width, 1, 1, self.final_size()) + bn(self.feature_mix_width);
        let weights = (self.feature_mix_width * cfg.classes) as u64;
        let classifier = Cost { params: weights + cfg.classes as u64, flops: weights };
        Ok(CostBreakdown { stem, first_block, blocks, feature_mix, classifier })
    }

    /// The subnet's total parameters and multiply-accumulates.
    pub fn cost(&self, subnet: &Subnet) -> Result<Cost, SubnetError> {
        self.cost_breakdown(subnet).map(|b| b.total())
    }

    /// The cost of the network a subnet string names.
    pub fn cost_of(&self, text: &str) -> Result<Cost, SubnetError> {
        self.cost(&self.parse_subnet(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxyless::{BlockChoice, ProxylessConfig, Stage, REFERENCE_STAGES};

    const ALL_K3E3: &str =
        "k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3,k3e3";
    const ALL_K7E6: &str =
        "k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6,k7e6";
    const ZERO_K3E3: &str =
        "k3e3,zero,zero,zero,k3e3,zero,zero,zero,k3e3,zero,zero,zero,k3e3,zero,zero,zero,k3e3,zero,zero,zero,k3e3";
    const ZERO_K7E6: &str =
        "k7e6,zero,zero,zero,k7e6,zero,zero,zero,k7e6,zero,zero,zero,k7e6,zero,zero,zero,k7e6,zero,zero,zero,k7e6";
    /// ProxylessNAS-Mobile's choices as published (the reference's proxyless_mobile.config, as
    /// transcribed block by block in osmr/imgclsmob's pytorchcv `proxylessnas.py`).
    const MOBILE: &str =
        "k5e3,k3e3,zero,zero,k7e3,k3e3,k5e3,k5e3,k7e6,k5e3,k5e3,k5e3,k5e6,k5e3,k5e3,k5e3,k7e6,k7e6,k7e3,k7e3,k7e6";
    const MIXED: &str =
        "k3e6,k5e6,zero,k7e3,k5e3,zero,k3e3,k7e6,k3e6,k5e3,zero,k7e3,k7e3,k3e6,zero,k5e6,k5e6,k3e3,k7e6,zero,k3e6";
    const SUBNETS: [(&str, &str); 6] = [
        ("all_k3e3", ALL_K3E3),
        ("all_k7e6", ALL_K7E6),
        ("zero_where_allowed_k3e3", ZERO_K3E3),
        ("zero_where_allowed_k7e6", ZERO_K7E6),
        ("mobile", MOBILE),
        ("mixed", MIXED),
    ];

    fn setting(name: &str) -> ProxylessConfig {
        match name {
            "imagenet" => ProxylessConfig::default(),
            "cifar10" => ProxylessConfig::for_input(10, 3, 32),
            "fmnist" => ProxylessConfig::for_input(10, 1, 28),
            "cifar10_w0.5" => ProxylessConfig { width_mult: 0.5, ..ProxylessConfig::for_input(10, 3, 32) },
            "imagenet_w1.4" => ProxylessConfig { width_mult: 1.4, ..Default::default() },
            other => panic!("unknown setting {other}"),
        }
    }

    /// (setting, subnet, params, MACs) printed by `bench/pytorch/proxyless.py --rust` (torch 2.11.0):
    /// params = `sum(p.numel() for p in net.parameters())` of our PyTorch port, MACs = forward hooks on
    /// every Conv2d (weight.numel() × output positions) and Linear (weight.numel()). The port
    /// reproduces the published ProxylessNAS-Mobile network (see `published_mobile_network`).
    const GOLDEN: [(&str, &str, u64, u64); 30] = [
        ("imagenet", "all_k3e3", 3191928, 257422208),
        ("imagenet", "all_k7e6", 5103336, 606590720),
        ("imagenet", "zero_where_allowed_k3e3", 2154984, 102528896),
        ("imagenet", "zero_where_allowed_k7e6", 2721000, 188423936),
        ("imagenet", "mobile", 4073520, 304227008),
        ("imagenet", "mixed", 3719664, 337954688),
        ("cifar10", "all_k3e3", 1923738, 5240192),
        ("cifar10", "all_k7e6", 3835146, 12366080),
        ("cifar10", "zero_where_allowed_k3e3", 886794, 2079104),
        ("cifar10", "zero_where_allowed_k7e6", 1452810, 3832064),
        ("cifar10", "mobile", 2805330, 6195392),
        ("cifar10", "mixed", 2451474, 6883712),
        ("fmnist", "all_k3e3", 1923162, 4747016),
        ("fmnist", "all_k7e6", 3834570, 11275664),
        ("fmnist", "zero_where_allowed_k3e3", 886218, 1770608),
        ("fmnist", "zero_where_allowed_k7e6", 1452234, 3370208),
        ("fmnist", "mobile", 2804754, 5813816),
        ("fmnist", "mixed", 2450898, 6242936),
        ("cifar10_w0.5", "all_k3e3", 621586, 1825392),
        ("cifar10_w0.5", "all_k7e6", 1237066, 4869600),
        ("cifar10_w0.5", "zero_where_allowed_k3e3", 342898, 767280),
        ("cifar10_w0.5", "zero_where_allowed_k7e6", 519754, 1417056),
        ("cifar10_w0.5", "mobile", 901506, 2100672),
        ("cifar10_w0.5", "mixed", 785946, 2509344),
        ("imagenet_w1.4", "all_k3e3", 5547392, 490165592),
        ("imagenet_w1.4", "all_k7e6", 9075944, 1088318000),
        ("imagenet_w1.4", "zero_where_allowed_k3e3", 3507296, 196643048),
        ("imagenet_w1.4", "zero_where_allowed_k7e6", 4561640, 352814672),
        ("imagenet_w1.4", "mobile", 7173744, 576024176),
        ("imagenet_w1.4", "mixed", 6533632, 631364384),
    ];

    #[test]
    fn params_and_macs_equal_the_pytorch_port() {
        for (set, name, params, flops) in GOLDEN {
            let arch = SUBNETS.iter().find(|(n, _)| *n == name).unwrap().1;
            let b = setting(set).backbone().unwrap();
            assert_eq!(b.cost_of(arch).unwrap(), Cost { params, flops }, "{set} {name}");
        }
    }

    #[test]
    fn published_mobile_network() {
        // The published ProxylessNAS-Mobile has a 32-wide first stage (the search space's is 24).
        // The reference's training log (logs/imagenet_mobile_log.txt) gives 4.08M parameters and
        // 320.4M FLOPs at 224x224; the exact count 4,080,512 is the one osmr/imgclsmob checks for
        // the published weights, and bench/pytorch/proxyless.py gets 320,427,584 MACs.
        let mut stages = REFERENCE_STAGES.to_vec();
        stages[0] = Stage { width: 32, ..stages[0] };
        let b = ProxylessConfig { stages, ..Default::default() }.backbone().unwrap();
        assert_eq!(b.cost_of(MOBILE).unwrap(), Cost { params: 4_080_512, flops: 320_427_584 });
    }

    #[test]
    fn breakdown_by_hand() {
        // CIFAR-10 (3x32x32, 10 classes), all blocks k3e3.
        let b = ProxylessConfig::for_input(10, 3, 32).backbone().unwrap();
        let d = b.cost_breakdown(&b.parse_subnet(ALL_K3E3).unwrap()).unwrap();
        // First conv 3 -> 32, 3x3, 16x16 output: 864 weights + 64 BN, 864 * 256 MACs.
        assert_eq!(d.stem, Cost { params: 928, flops: 221_184 });
        // Expand-1 block 32 -> 16 at 16x16: depthwise 32*9 = 288 (+64 BN), project 32*16 = 512 (+32 BN).
        assert_eq!(d.first_block, Cost { params: 288 + 64 + 512 + 32, flops: (288 + 512) * 256 });
        // s1b1: 16 -> 24, expand 3 (mid 48), stride 2, 16x16 -> 8x8: expand 768 at 256 positions,
        // depthwise 432 and project 1152 at 64 positions; BN 96 + 96 + 48.
        assert_eq!(d.blocks[0], Cost { params: 768 + 432 + 1152 + 240, flops: 768 * 256 + (432 + 1152) * 64 });
        // Feature mix 320 -> 1280 at 1x1; classifier 1280 x 10 + 10 bias (bias not counted as MACs).
        assert_eq!(d.feature_mix, Cost { params: 409_600 + 2560, flops: 409_600 });
        assert_eq!(d.classifier, Cost { params: 12_810, flops: 12_800 });
        assert_eq!(d.total(), Cost { params: 1_923_738, flops: 5_240_192 });

        // A skipped block costs nothing; every other block keeps its cost.
        let z = b.cost_breakdown(&b.parse_subnet(ZERO_K3E3).unwrap()).unwrap();
        assert_eq!(z.blocks[1], Cost::default());
        assert_eq!((z.blocks[0], z.blocks[4]), (d.blocks[0], d.blocks[4]));
        // The classes change only the classifier.
        let c100 = ProxylessConfig::for_input(100, 3, 32).backbone().unwrap();
        let d100 = c100.cost_breakdown(&c100.parse_subnet(ALL_K3E3).unwrap()).unwrap();
        assert_eq!(d100.total().params - d.total().params, 90 * 1281);
    }

    #[test]
    fn the_resolution_changes_flops_but_not_params() {
        let at = |r| ProxylessConfig::for_input(10, 3, r).backbone().unwrap().cost_of(MIXED).unwrap();
        assert_eq!(at(32).params, at(224).params);
        assert_eq!(at(32).params, at(28).params);
        assert!(at(28).flops < at(32).flops && at(32).flops < at(224).flops);
    }

    #[test]
    fn a_subnet_of_another_backbone_is_checked_again() {
        // The same choices are a subnet of the reference backbone but not of one whose second stage has
        // a single block, and cost() says so instead of miscounting.
        let reference = ProxylessConfig::default().backbone().unwrap();
        let s = reference.uniform_subnet(BlockChoice::K3E3, BlockChoice::K3E3);
        let mut stages = REFERENCE_STAGES.to_vec();
        stages[1].blocks = 1;
        let short = ProxylessConfig { stages, ..Default::default() }.backbone().unwrap();
        let e = short.cost(&s).unwrap_err().to_string();
        assert!(e.contains("18 comma-separated choices"), "{e}");
    }
}
