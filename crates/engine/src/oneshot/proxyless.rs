//! Single-path ProxylessNAS: the mobile backbone with every block holding its six MBConv choices
//! ([`ProxylessNetwork`] built as a supernet), running one subnet at a time.

use super::SinglePathNet;
use crate::nn::{ProxylessNetConfig, ProxylessNetwork, ProxylessSupernetOptions};
use crate::EngineError;
use oxnas_core::oneshot::{ArchError, ProxylessRankSpace};
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// The supernet of a `[supernet] space = "proxyless"` section, with its own weights.
pub struct ProxylessSupernet {
    vs: VarStore,
    net: ProxylessNetwork,
    /// Parses paths: subnets of this net's backbone (where `zero` may go depends on the width).
    space: ProxylessRankSpace,
}

impl ProxylessSupernet {
    pub fn new(cfg: &ProxylessNetConfig, opts: ProxylessSupernetOptions, device: Device) -> Result<Self, EngineError> {
        let (vs, net) = crate::device::init_on_cpu(device, |vs| cfg.init_supernet(&vs.root(), opts));
        let net = net?;
        let space = ProxylessRankSpace::new(net.backbone().config.clone())
            .and_then(|s| s.with_stage_openers(opts.stage_openers))
            .map_err(|e| EngineError::Config(format!("proxyless: {e}")))?;
        Ok(ProxylessSupernet { vs, net, space })
    }

    pub fn net(&self) -> &ProxylessNetwork {
        &self.net
    }
}

impl SinglePathNet for ProxylessSupernet {
    fn set_path(&mut self, arch: &str) -> Result<(), ArchError> {
        let subnet = self.space.parse(arch)?;
        // Every block holds all six MBConvs, so a subnet of the backbone always runs.
        self.net.set_path(&subnet).map_err(|e| ArchError {
            space: "proxyless",
            text: arch.to_string(),
            reason: e.to_string(),
        })
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.net.forward_t(x, train)
    }

    fn weights(&self) -> &VarStore {
        &self.vs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::oneshot::RankSpace;
    use oxnas_core::proxyless::BlockChoice;
    use rand::SeedableRng;
    use tch::Kind;

    const MOBILE: &str =
        "k5e3,k3e3,zero,zero,k7e3,k3e3,k5e3,k5e3,k7e6,k5e3,k5e3,k5e3,k5e6,k5e3,k5e3,k5e3,k7e6,k7e6,k7e3,k7e3,k7e6";
    /// The same subnet in the reference's names, mixed case and blanks.
    const MOBILE_REFERENCE: &str = "5x5_MBConv3, 3x3_MBConv3, Zero, zero, 7x7_MBConv3, k3e3, 5x5_MBConv3, \
        5x5_MBConv3, 7x7_MBConv6, K5E3, 5x5_MBConv3, 5x5_MBConv3, 5x5_MBConv6, 5x5_MBConv3, 5x5_MBConv3, \
        5x5_MBConv3, 7x7_MBConv6, 7x7_MBConv6, 7x7_MBConv3, 7x7_MBConv3, 7x7_MBConv6";

    fn tiny(track_running_stats: bool) -> ProxylessSupernet {
        tch::manual_seed(0);
        let cfg = ProxylessNetConfig { width_mult: 0.3, num_classes: 10, in_channels: 1, track_running_stats };
        ProxylessSupernet::new(&cfg, ProxylessSupernetOptions::default(), Device::Cpu).unwrap()
    }

    #[test]
    fn both_spellings_of_a_subnet_give_identical_outputs() {
        let mut net = tiny(true);
        let x = Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        net.set_path(MOBILE).unwrap();
        let a = net.forward_t(&x, false);
        net.set_path(MOBILE_REFERENCE).unwrap();
        assert_eq!(net.net().path().to_string(), MOBILE);
        assert!(net.forward_t(&x, false).equal(&a));
        // Another choice in one block computes something else.
        net.set_path(&MOBILE.replacen("k5e3", "k5e6", 1)).unwrap();
        assert!(!net.forward_t(&x, false).equal(&a));
    }

    #[test]
    fn invalid_subnets_are_refused_and_leave_the_path() {
        let mut net = tiny(false);
        net.set_path(MOBILE).unwrap();
        // s1b1 has stride 2: it cannot be skipped.
        let e = net.set_path(&MOBILE.replacen("k5e3", "zero", 1)).unwrap_err();
        assert_eq!(e.space, "proxyless");
        assert!(e.reason.starts_with("block 1 (s1b1): zero is not allowed here"), "{e}");
        let e = net.set_path("k3e3,k3e3").unwrap_err();
        assert!(e.reason.contains("21 comma-separated choices"), "{e}");
        let e = net.set_path(&MOBILE.replacen("k7e6", "k9e6", 1)).unwrap_err();
        assert!(e.reason.contains("unknown choice 'k9e6'"), "{e}");
        assert_eq!(net.net().path().to_string(), MOBILE, "a refused path leaves the net as it was");
    }

    #[test]
    fn supernet_holds_all_six_choices_per_block_and_bn_stats_follow_the_flag() {
        let with = tiny(true);
        let names: Vec<String> = with.weights().variables().into_keys().collect();
        let s2b3: Vec<&String> =
            names.iter().filter(|n| n.ends_with(".depthwise.weight") && n.contains("s2b3")).collect();
        assert_eq!(s2b3.len(), 6, "{s2b3:?}");
        assert!(names.iter().any(|n| n == "blocks.s2b3.k7e6.expand_bn.running_mean"));
        let without = tiny(false);
        let names: Vec<String> = without.weights().variables().into_keys().collect();
        assert!(!names.iter().any(|n| n.starts_with("blocks.") && n.contains("running_")));
        // The fixed layers keep theirs.
        assert!(names.iter().any(|n| n == "stem.conv_bn.running_mean"));
        assert!(names.iter().any(|n| n == "feature_mix.conv_bn.running_var"));
    }

    #[test]
    fn fixed_openers_and_zero_init_residual_blocks() {
        tch::manual_seed(0);
        let cfg = ProxylessNetConfig { width_mult: 0.3, num_classes: 10, in_channels: 1, track_running_stats: true };
        let opts = ProxylessSupernetOptions { stage_openers: Some(BlockChoice::K3E6), zero_init_residual: true };
        let mut net = ProxylessSupernet::new(&cfg, opts, Device::Cpu).unwrap();
        let vars = net.weights().variables();
        let opener_ops: Vec<&String> =
            vars.keys().filter(|n| n.starts_with("blocks.s2b1.") && n.ends_with(".depthwise.weight")).collect();
        assert_eq!(opener_ops, ["blocks.s2b1.k3e6.depthwise.weight"]);
        // Residual blocks start as the identity: γ = 0 on every choice's projection BN, so subnets that
        // differ only there compute the same function; the openers' γ keep their usual 1.
        assert_eq!(vars["blocks.s2b2.k5e3.project_bn.weight"].abs().sum(Kind::Float).double_value(&[]), 0.0);
        assert_eq!(vars["blocks.s2b1.k3e6.project_bn.weight"].min().double_value(&[]), 1.0);
        assert_eq!(vars["blocks.s2b2.k5e3.expand_bn.weight"].min().double_value(&[]), 1.0);
        let space = ProxylessRankSpace::new(net.net().backbone().config.clone())
            .unwrap()
            .with_stage_openers(Some(BlockChoice::K3E6))
            .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
        net.set_path(&space.sample(&mut rng)).unwrap();
        let a = net.forward_t(&x, true);
        net.set_path(&space.sample(&mut rng)).unwrap();
        assert!(net.forward_t(&x, true).allclose(&a, 1e-6, 1e-6, false));
        // An opener outside the fixed choice is refused by name.
        let e = net.set_path(&MOBILE.replace("k5e3", "k3e6")).unwrap_err();
        assert!(e.reason.contains("fixes every stage-opening block to k3e6"), "{e}");
        let e = ProxylessSupernet::new(
            &cfg,
            ProxylessSupernetOptions { stage_openers: Some(BlockChoice::Zero), zero_init_residual: false },
            Device::Cpu,
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("stage-opening blocks cannot be zero"), "{e}");
    }

    #[test]
    fn every_sampled_subnet_runs() {
        let mut net = tiny(true);
        let space = ProxylessRankSpace::new(net.net().backbone().config.clone()).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x = Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        for _ in 0..5 {
            net.set_path(&space.sample(&mut rng)).unwrap();
            assert_eq!(net.forward_t(&x, true).size(), [2, 10]);
        }
    }
}
