//! The ProxylessNAS mobile network (Cai, Zhu & Han 2019; the backbone mit-han-lab/proxylessnas
//! searches on ImageNet, docs/proxyless.md): first conv → fixed expand-1 MBConv → 21 searchable
//! blocks → 1x1 feature mix → global average pool → linear.
//!
//! One module serves both uses. Each searchable block holds the MBConvs of the choices it was built
//! with, and a path (a [`Subnet`]) picks the one that runs in every block:
//! - standalone ([`ProxylessNetConfig::init`]): only the subnet's choices are built, so the
//!   trainable parameters are exactly what `Backbone::cost` counts;
//! - single-path supernet ([`ProxylessNetConfig::init_supernet`]): every block holds all six
//!   MBConvs, each with its own BN (and its own running statistics when they are tracked), and
//!   [`ProxylessNetwork::set_path`] switches between subnets.
//!
//! Names are hierarchical: `blocks.s1b1.k5e6.depthwise.weight`, `blocks.s1b1.k5e6.expand_bn.running_mean`,
//! `stem.conv.weight`, `first_block.project.weight`, `feature_mix.conv_bn.bias`, `classifier.weight`.

use super::layers::{BatchNorm2d, Conv2d, ConvSpec, Linear};
use crate::EngineError;
use oxnas_core::proxyless::{Backbone, BlockChoice, ConfigError, ProxylessConfig, Subnet};
use serde::{Deserialize, Serialize};
use tch::{nn::Path, Tensor};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxylessNetConfig {
    /// Scales every width (1.0 = the reference's).
    pub width_mult: f64,
    pub num_classes: i64,
    pub in_channels: i64,
    /// BN running statistics in the searchable blocks' MBConvs. Standalone networks keep them (as
    /// every evaluation network does); a supernet may leave them out (`[supernet]
    /// track_running_stats`). The fixed layers always keep theirs.
    pub track_running_stats: bool,
}

impl Default for ProxylessNetConfig {
    /// The reference's ImageNet network: width 1.0, 1000 classes, 3-channel input.
    fn default() -> Self {
        ProxylessNetConfig { width_mult: 1.0, num_classes: 1000, in_channels: 3, track_running_stats: true }
    }
}

impl ProxylessNetConfig {
    /// The backbone's layer shapes. Weights do not depend on the input's side (convs are "same"
    /// padded and the head pools globally), so the reference's 224 is used; any side works.
    pub fn backbone(&self) -> Result<Backbone, EngineError> {
        let positive = |v: i64, what: &str| {
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(|| EngineError::Config(format!("proxyless: {what} = {v} must be at least 1")))
        };
        let cfg = ProxylessConfig {
            width_mult: self.width_mult,
            classes: positive(self.num_classes, "num_classes")?,
            in_channels: positive(self.in_channels, "in_channels")?,
            ..Default::default()
        };
        cfg.backbone().map_err(|e| EngineError::Config(format!("proxyless: {e}")))
    }

    /// A standalone network for `subnet`: only its choices' weights are built.
    pub fn init(&self, p: &Path, subnet: &Subnet) -> Result<ProxylessNetwork, EngineError> {
        let backbone = self.backbone()?;
        let subnet = checked(&backbone, subnet)?;
        let choices = subnet.choices().to_vec();
        let built = move |i: usize| vec![choices[i]];
        Ok(ProxylessNetwork::new(p, self, backbone, &built, subnet))
    }

    /// The single-path supernet: every block holds all six MBConvs (a stage opener only its fixed
    /// choice when `opts.stage_openers` is set). Its path starts as the all-`k7e6` subnet (the
    /// largest, with the fixed openers), until [`ProxylessNetwork::set_path`] changes it.
    pub fn init_supernet(&self, p: &Path, opts: SupernetOptions) -> Result<ProxylessNetwork, EngineError> {
        if opts.stage_openers.is_some_and(BlockChoice::is_zero) {
            return Err(EngineError::Config(format!("proxyless: {}", ConfigError::ZeroOpener)));
        }
        let backbone = self.backbone()?;
        let openers: Vec<Option<BlockChoice>> =
            backbone.blocks.iter().map(|b| opts.stage_openers.filter(|_| !b.zero_allowed)).collect();
        let choices = openers.iter().map(|o| o.unwrap_or(BlockChoice::K7E6)).collect();
        let path = backbone.subnet(choices).expect("no block is zero, and fixed openers are never zero");
        let built = |i: usize| openers[i].map_or(BlockChoice::MBCONV.to_vec(), |c| vec![c]);
        let net = ProxylessNetwork::new(p, self, backbone, &built, path);
        if opts.zero_init_residual {
            net.zero_residual_gammas();
        }
        Ok(net)
    }
}

/// How a single-path supernet departs from the plain one (every block searched, default init).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SupernetOptions {
    /// Every stage-opening block (no shortcut) holds and runs only this choice.
    pub stage_openers: Option<BlockChoice>,
    /// Every residual MBConv's last BN starts with γ = 0, so its block starts as the identity.
    pub zero_init_residual: bool,
}

/// `subnet` checked against `backbone` (a subnet parsed at another width may put `zero` where this
/// one has no identity shortcut).
fn checked(backbone: &Backbone, subnet: &Subnet) -> Result<Subnet, EngineError> {
    backbone.subnet(subnet.choices().to_vec()).map_err(|e| EngineError::Config(format!("proxyless subnet: {e}")))
}

/// ReLU6, the reference's activation.
fn relu6(x: &Tensor) -> Tensor {
    x.clamp(0.0, 6.0)
}

/// A bias-free conv followed by BN.
#[derive(Debug)]
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBn {
    /// `name` names the conv; its BN is `{name}_bn`.
    fn new(p: &Path, name: &str, spec: ConvSpec, track_running_stats: bool) -> Self {
        ConvBn {
            conv: Conv2d::new(&(p / name), spec),
            bn: BatchNorm2d::new(&(p / format!("{name}_bn")), spec.c_out, true, track_running_stats),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.bn.forward_t(&self.conv.forward(x), train)
    }
}

/// An inverted-residual block without its shortcut: 1x1 expansion to `in × expand` (BN, ReLU6;
/// absent at expand 1), k×k depthwise with the stride and padding k/2 (BN, ReLU6), 1x1 linear
/// projection (BN).
#[derive(Debug)]
struct MbConv {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
}

impl MbConv {
    fn new(p: &Path, (c_in, c_out): (i64, i64), kernel: i64, expand: i64, stride: i64, track: bool) -> Self {
        let mid = c_in * expand;
        MbConv {
            expand: (expand != 1).then(|| ConvBn::new(p, "expand", ConvSpec::new(c_in, mid, 1), track)),
            depthwise: ConvBn::new(
                p,
                "depthwise",
                ConvSpec::new(mid, mid, kernel).stride(stride).padding(kernel / 2).groups(mid),
                track,
            ),
            project: ConvBn::new(p, "project", ConvSpec::new(mid, c_out, 1), track),
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = match &self.expand {
            Some(e) => relu6(&e.forward_t(x, train)),
            None => x.shallow_clone(),
        };
        let h = relu6(&self.depthwise.forward_t(&h, train));
        self.project.forward_t(&h, train)
    }
}

/// One searchable block: the MBConvs of the choices it was built with.
#[derive(Debug)]
struct SearchBlock {
    choices: Vec<(BlockChoice, MbConv)>,
    /// Stride 1 and equal widths: an identity shortcut is added, and `zero` may skip the block.
    shortcut: bool,
}

impl SearchBlock {
    fn forward_t(&self, x: &Tensor, choice: BlockChoice, train: bool) -> Tensor {
        if choice.is_zero() {
            // The skipped block's output is its shortcut: the input, unchanged.
            return x.shallow_clone();
        }
        let (_, op) = self
            .choices
            .iter()
            .find(|(c, _)| *c == choice)
            .expect("set_path only accepts choices the block was built with");
        let y = op.forward_t(x, train);
        if self.shortcut {
            y + x
        } else {
            y
        }
    }
}

#[derive(Debug)]
pub struct ProxylessNetwork {
    backbone: Backbone,
    stem: ConvBn,
    first_block: MbConv,
    blocks: Vec<SearchBlock>,
    feature_mix: ConvBn,
    classifier: Linear,
    path: Subnet,
}

impl ProxylessNetwork {
    fn new(
        p: &Path,
        cfg: &ProxylessNetConfig,
        backbone: Backbone,
        built: &dyn Fn(usize) -> Vec<BlockChoice>,
        path: Subnet,
    ) -> Self {
        let w = |v: usize| v as i64;
        let stem = ConvBn::new(
            &(p / "stem"),
            "conv",
            ConvSpec::new(cfg.in_channels, w(backbone.stem_width), 3).stride(2).padding(1),
            true,
        );
        let first_block =
            MbConv::new(&(p / "first_block"), (w(backbone.stem_width), w(backbone.first_block_width)), 3, 1, 1, true);
        let mut blocks = Vec::with_capacity(backbone.blocks.len());
        for (i, b) in backbone.blocks.iter().enumerate() {
            let q = p / "blocks" / b.name.as_str();
            let choices = built(i)
                .into_iter()
                .filter_map(|c| {
                    let (k, e) = (c.kernel()?, c.expand()?);
                    let op = MbConv::new(
                        &(&q / c.name()),
                        (w(b.in_width), w(b.out_width)),
                        w(k),
                        w(e),
                        w(b.stride),
                        cfg.track_running_stats,
                    );
                    Some((c, op))
                })
                .collect();
            blocks.push(SearchBlock { choices, shortcut: b.zero_allowed });
        }
        let feature_mix = ConvBn::new(
            &(p / "feature_mix"),
            "conv",
            ConvSpec::new(w(backbone.last_width()), w(backbone.feature_mix_width), 1),
            true,
        );
        let classifier = Linear::new(&(p / "classifier"), w(backbone.feature_mix_width), cfg.num_classes);
        ProxylessNetwork { backbone, stem, first_block, blocks, feature_mix, classifier, path }
    }

    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    /// Sets γ of the last BN of every residual block's MBConvs to 0: each residual block then starts
    /// as the identity (its shortcut), the initialisation of Goyal et al. 2017.
    pub fn zero_residual_gammas(&self) {
        let gammas = self
            .blocks
            .iter()
            .filter(|b| b.shortcut)
            .flat_map(|b| &b.choices)
            .filter_map(|(_, op)| op.project.bn.weight.as_ref());
        tch::no_grad(|| {
            for g in gammas {
                let _ = g.shallow_clone().zero_();
            }
        });
    }

    /// The subnet that runs.
    pub fn path(&self) -> &Subnet {
        &self.path
    }

    /// Runs `subnet` from now on. Refused, leaving the path as it was, when a block would need a
    /// choice it was not built with (a standalone network runs only its own subnet) or `zero` where
    /// the block has no identity shortcut.
    pub fn set_path(&mut self, subnet: &Subnet) -> Result<(), EngineError> {
        let subnet = checked(&self.backbone, subnet)?;
        for ((block, choice), b) in self.blocks.iter().zip(subnet.choices()).zip(&self.backbone.blocks) {
            if !choice.is_zero() && !block.choices.iter().any(|(c, _)| c == choice) {
                let built: Vec<&str> = block.choices.iter().map(|(c, _)| c.name()).collect();
                return Err(EngineError::Config(format!(
                    "block {} runs {choice}, but this network holds only {} there (a standalone network runs \
                     only the subnet it was built for)",
                    b.name,
                    built.join(", ")
                )));
            }
        }
        self.path = subnet;
        Ok(())
    }

    /// Output of the first `n` searchable blocks on the current path (for tests and probing).
    fn features_t(&self, x: &Tensor, n: usize, train: bool) -> Tensor {
        let mut h = relu6(&self.stem.forward_t(x, train));
        h = self.first_block.forward_t(&h, train);
        for (block, &choice) in self.blocks.iter().zip(self.path.choices()).take(n) {
            h = block.forward_t(&h, choice, train);
        }
        h
    }

    /// Logits for a batch `N×C×H×W` (any side: the head pools globally).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.features_t(x, self.blocks.len(), train);
        let h = relu6(&self.feature_mix.forward_t(&h, train)).adaptive_avg_pool2d([1, 1]).flatten(1, -1);
        // The reference's dropout before the classifier is 0 in its search; none is applied here.
        self.classifier.forward(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oxnas_core::proxyless::BlockChoice;
    use tch::{nn::VarStore, Device, Kind};

    const MOBILE: &str =
        "k5e3,k3e3,zero,zero,k7e3,k3e3,k5e3,k5e3,k7e6,k5e3,k5e3,k5e3,k5e6,k5e3,k5e3,k5e3,k7e6,k7e6,k7e3,k7e3,k7e6";
    const MIXED: &str =
        "k3e6,zero,k5e6,k7e3,k3e3,k7e6,zero,zero,k5e3,k3e6,zero,k7e6,k3e3,zero,k5e6,zero,k7e3,k3e6,zero,k5e3,k3e3";

    fn cfg(width_mult: f64, num_classes: i64, in_channels: i64) -> ProxylessNetConfig {
        ProxylessNetConfig { width_mult, num_classes, in_channels, track_running_stats: true }
    }

    fn trainable(vs: &VarStore) -> u64 {
        vs.trainable_variables().iter().map(|t| t.numel() as u64).sum()
    }

    fn subnets(b: &Backbone) -> Vec<Subnet> {
        let mut out = vec![
            b.uniform_subnet(BlockChoice::K3E3, BlockChoice::K3E3),
            b.uniform_subnet(BlockChoice::K7E6, BlockChoice::K7E6),
            b.uniform_subnet(BlockChoice::Zero, BlockChoice::K5E6),
            b.parse_subnet(MOBILE).unwrap(),
        ];
        out.push(b.parse_subnet(MIXED).unwrap());
        out
    }

    #[test]
    fn standalone_params_equal_the_core_count() {
        // The reference ImageNet setting and the small CPU one: the two differ in the stem's input,
        // the classifier and (at 0.3) every width, not in where zero may go.
        for (c, resolution) in [(cfg(1.0, 1000, 3), 224), (cfg(0.3, 10, 1), 28)] {
            let core = ProxylessConfig {
                width_mult: c.width_mult,
                classes: c.num_classes as usize,
                in_channels: c.in_channels as usize,
                resolution,
                ..Default::default()
            }
            .backbone()
            .unwrap();
            for s in subnets(&core) {
                let vs = VarStore::new(Device::Cpu);
                c.init(&vs.root(), &s).unwrap();
                assert_eq!(trainable(&vs), core.cost(&s).unwrap().params, "{s} at width {}", c.width_mult);
            }
        }
        // One golden value from the PyTorch port (docs/proxyless.md): all k7e6 on ImageNet.
        let vs = VarStore::new(Device::Cpu);
        let b = ProxylessConfig::default().backbone().unwrap();
        cfg(1.0, 1000, 3).init(&vs.root(), &b.uniform_subnet(BlockChoice::K7E6, BlockChoice::K7E6)).unwrap();
        assert_eq!(trainable(&vs), 5_103_336);
    }

    #[test]
    fn names_are_hierarchical_and_a_standalone_net_holds_only_its_choices() {
        let vs = VarStore::new(Device::Cpu);
        let c = cfg(0.3, 10, 1);
        let s = c.backbone().unwrap().parse_subnet(MOBILE).unwrap();
        c.init(&vs.root(), &s).unwrap();
        let names: Vec<String> = vs.variables().into_keys().collect();
        for n in [
            "stem.conv.weight",
            "stem.conv_bn.running_mean",
            "first_block.depthwise.weight",
            "first_block.project_bn.bias",
            "blocks.s1b1.k5e3.expand.weight",
            "blocks.s1b1.k5e3.depthwise.weight",
            "blocks.s6b1.k7e6.project_bn.running_var",
            "feature_mix.conv.weight",
            "classifier.bias",
        ] {
            assert!(names.iter().any(|x| x == n), "{n} missing from {names:?}");
        }
        // The first block has no expansion conv; skipped blocks (s1b3) hold nothing.
        assert!(!names.iter().any(|x| x.starts_with("first_block.expand") || x.starts_with("blocks.s1b3.")));
        assert!(!names.iter().any(|x| x.starts_with("blocks.s1b1.k3e3.")));
        let depthwise = &vs.variables()["blocks.s1b1.k5e3.depthwise.weight"];
        // s1b1 at width 0.3: 8 -> 8 channels, expand 3 -> 24 depthwise channels, 5x5.
        assert_eq!(depthwise.size(), [24, 1, 5, 5]);
    }

    #[test]
    fn a_standalone_net_refuses_a_path_it_has_no_weights_for() {
        let vs = VarStore::new(Device::Cpu);
        let c = cfg(0.3, 10, 1);
        let b = c.backbone().unwrap();
        let mut net = c.init(&vs.root(), &b.parse_subnet(MOBILE).unwrap()).unwrap();
        let e = net.set_path(&b.uniform_subnet(BlockChoice::K3E3, BlockChoice::K3E3)).unwrap_err().to_string();
        assert!(e.contains("block s1b1 runs k3e3, but this network holds only k5e3 there"), "{e}");
        assert_eq!(net.path().to_string(), MOBILE);
        // Skipping a block that runs an MBConv needs no weights.
        let fewer = MOBILE.replacen("k3e3", "zero", 1);
        net.set_path(&b.parse_subnet(&fewer).unwrap()).unwrap();
        assert_eq!(net.path().to_string(), fewer);
    }

    #[test]
    fn forward_shapes_on_small_inputs() {
        tch::manual_seed(0);
        for (in_channels, side) in [(1, 28), (3, 32)] {
            let vs = VarStore::new(Device::Cpu);
            let c = cfg(0.3, 10, in_channels);
            let net = c.init_supernet(&vs.root(), SupernetOptions::default()).unwrap();
            let x = Tensor::randn([2, in_channels, side, side], (Kind::Float, Device::Cpu));
            assert_eq!(net.forward_t(&x, true).size(), [2, 10]);
            // The first stage's output side: 28 -> 14 -> 7, 32 -> 16 -> 8.
            assert_eq!(net.features_t(&x, 4, false).size(), [2, 8, side / 4, side / 4]);
            assert_eq!(net.features_t(&x, 21, false).size()[2..], [1, 1]);
        }
    }

    #[test]
    fn a_zero_block_passes_its_input_through() {
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let c = cfg(0.3, 10, 1);
        let mut net = c.init_supernet(&vs.root(), SupernetOptions::default()).unwrap();
        let b = c.backbone().unwrap();
        // s1b2 (block 2) skipped: the features after two blocks equal those after one.
        let s = b.parse_subnet(&MOBILE.replacen("k3e3", "zero", 1)).unwrap();
        net.set_path(&s).unwrap();
        let x = Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu));
        let one = net.features_t(&x, 1, false);
        assert!(net.features_t(&x, 2, false).equal(&one));
        // Running it instead changes the output (the MBConv adds to the shortcut).
        net.set_path(&b.parse_subnet(MOBILE).unwrap()).unwrap();
        assert!(!net.features_t(&x, 2, false).equal(&one));
    }
}
