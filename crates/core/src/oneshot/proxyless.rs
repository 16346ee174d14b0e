//! The ProxylessNAS mobile space as a ranking space: subnets keyed by their canonical choice
//! strings (`k3e3,k5e6,zero,...`), drawn block by block, described by their op mix, exact size
//! and depth.

use super::{ArchError, Feature, RankSpace};
use crate::proxyless::{Backbone, BlockChoice, ConfigError, ProxylessConfig, Subnet};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Subnets of one [`Backbone`]; its configuration (width, classes, input) is where the `params`
/// and `flops` features are counted.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxylessRankSpace {
    backbone: Backbone,
    /// Set when every stage's first block (the blocks without a shortcut) is fixed to one choice
    /// and only the residual blocks are searched; see [`ProxylessRankSpace::with_stage_openers`].
    stage_openers: Option<BlockChoice>,
}

impl Default for ProxylessRankSpace {
    /// The reference's ImageNet setting (width 1.0, 1000 classes, 3x224x224).
    fn default() -> Self {
        ProxylessRankSpace::new(ProxylessConfig::default()).expect("the reference configuration is valid")
    }
}

const FEATURES: [Feature; 6] = [
    Feature {
        name: "zero_count",
        high: "subnets with more skipped (zero) blocks, the parameter-free op",
        low: "subnets with fewer skipped (zero) blocks",
    },
    Feature { name: "k7_count", high: "subnets with more 7x7 kernels", low: "subnets with fewer 7x7 kernels" },
    Feature { name: "e6_count", high: "subnets with more expand-6 blocks", low: "subnets with fewer expand-6 blocks" },
    Feature {
        name: super::PARAMS,
        high: "larger subnets (more parameters)",
        low: "smaller subnets (fewer parameters)",
    },
    Feature {
        name: "flops",
        high: "costlier subnets (more multiply-accumulates)",
        low: "cheaper subnets (fewer multiply-accumulates)",
    },
    Feature {
        name: "depth",
        high: "deeper subnets (more searchable blocks that run)",
        low: "shallower subnets (fewer searchable blocks that run)",
    },
];

impl ProxylessRankSpace {
    pub fn new(config: ProxylessConfig) -> Result<Self, ConfigError> {
        Ok(ProxylessRankSpace { backbone: config.backbone()?, stage_openers: None })
    }

    /// The subspace whose stage-opening blocks (each stage's first block: it changes the width or
    /// the resolution, so it has no shortcut and cannot be `zero`) all run `choice`; the other 15
    /// blocks are searched as before. A small single-path supernet learns in this subspace where it
    /// does not in the whole space (docs/ranking.md).
    pub fn with_stage_openers(self, choice: Option<BlockChoice>) -> Result<Self, ConfigError> {
        if choice == Some(BlockChoice::Zero) {
            return Err(ConfigError::ZeroOpener);
        }
        Ok(ProxylessRankSpace { stage_openers: choice, ..self })
    }

    /// The choice every stage-opening block is fixed to, if any.
    pub fn stage_openers(&self) -> Option<BlockChoice> {
        self.stage_openers
    }

    /// The choices block `i` may take in this space.
    fn block_choices(&self, i: usize) -> &'static [BlockChoice] {
        match self.stage_openers {
            Some(c) if !self.backbone.blocks[i].zero_allowed => {
                let at = BlockChoice::ALL.iter().position(|&x| x == c).expect("ALL lists every choice");
                &BlockChoice::ALL[at..=at]
            }
            _ => self.backbone.allowed_choices(i),
        }
    }

    pub fn backbone(&self) -> &Backbone {
        &self.backbone
    }

    pub fn parse(&self, text: &str) -> Result<Subnet, ArchError> {
        let error = |reason: String| ArchError { space: "proxyless", text: text.to_string(), reason };
        let subnet = self.backbone.parse_subnet(text).map_err(|e| error(e.to_string()))?;
        if let Some(fixed) = self.stage_openers {
            let opener =
                self.backbone.blocks.iter().zip(subnet.choices()).find(|(b, &c)| !b.zero_allowed && c != fixed);
            if let Some((b, c)) = opener {
                return Err(error(format!(
                    "block {} runs {c}, but this supernet fixes every stage-opening block to {fixed} \
                     (supernet.stage_openers) and has trained no other choice there",
                    b.name
                )));
            }
        }
        Ok(subnet)
    }

    /// A subnet drawn uniformly: each block independently and uniformly over the choices it allows
    /// (seven where `zero` is allowed, six elsewhere, one where the stage openers are fixed).
    pub fn sample_subnet(&self, rng: &mut ChaCha8Rng) -> Subnet {
        let choices = (0..self.backbone.blocks.len())
            .map(|i| {
                let allowed = self.block_choices(i);
                allowed[rng.random_range(0..allowed.len())]
            })
            .collect();
        self.backbone.subnet(choices).expect("each block draws from its allowed choices")
    }

    /// The feature values of one subnet of this space's backbone, in [`FEATURES`] order.
    fn subnet_features(&self, subnet: &Subnet) -> Vec<f64> {
        let cost = self.backbone.cost(subnet).expect("the subnet was checked against this backbone");
        vec![
            subnet.count(crate::proxyless::BlockChoice::Zero) as f64,
            subnet.kernel_count(7) as f64,
            subnet.expand_count(6) as f64,
            cost.params as f64,
            cost.flops as f64,
            subnet.active_blocks() as f64,
        ]
    }
}

impl RankSpace for ProxylessRankSpace {
    fn name(&self) -> &'static str {
        "proxyless"
    }

    fn canonical(&self, text: &str) -> Result<String, ArchError> {
        self.parse(text).map(|s| s.to_string())
    }

    fn sample(&self, rng: &mut ChaCha8Rng) -> String {
        self.sample_subnet(rng).to_string()
    }

    fn features(&self) -> &'static [Feature] {
        &FEATURES
    }

    fn feature_values(&self, canonical: &str) -> Result<Vec<f64>, ArchError> {
        Ok(self.subnet_features(&self.parse(canonical)?))
    }

    fn params_note(&self) -> String {
        let c = &self.backbone.config;
        let fixed = self.stage_openers.map_or(String::new(), |o| format!("; stage openers fixed to {o}"));
        format!(
            "exact, whole network at width {}, {} classes, {}x{}x{} input{fixed}",
            c.width_mult, c.classes, c.in_channels, c.resolution, c.resolution
        )
    }

    /// One slot per searchable block, `s{stage}b{block}`.
    fn slots(&self) -> Vec<String> {
        self.backbone.block_names()
    }

    fn choices(&self, canonical: &str) -> Result<Vec<String>, ArchError> {
        Ok(self.parse(canonical)?.choices().iter().map(|c| c.name().to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxyless::BlockChoice;
    use rand::SeedableRng;

    const MOBILE: &str =
        "k5e3,k3e3,zero,zero,k7e3,k3e3,k5e3,k5e3,k7e6,k5e3,k5e3,k5e3,k5e6,k5e3,k5e3,k5e3,k7e6,k7e6,k7e3,k7e3,k7e6";

    #[test]
    fn keeps_the_space_contract() {
        super::super::contract::check(&ProxylessRankSpace::default());
        super::super::contract::check(&ProxylessRankSpace::new(ProxylessConfig::for_input(10, 1, 28)).unwrap());
    }

    #[test]
    fn features_by_hand() {
        // ProxylessNAS-Mobile's choices: 2 zeros, 7 blocks with 7x7 kernels (s2b1, s3b1, s5b1..s6b1),
        // 5 expand-6 blocks (s3b1, s4b1, s5b1, s5b2, s6b1), 19 blocks that run. Params and MACs are
        // the golden values of proxyless::cost's tests (ImageNet setting).
        let s = ProxylessRankSpace::default();
        assert_eq!(s.feature_values(MOBILE).unwrap(), vec![2.0, 7.0, 5.0, 4_073_520.0, 304_227_008.0, 19.0]);
        let reference_names = MOBILE.replace("k5e3", "5x5_MBConv3").replace("zero", "Zero");
        assert_eq!(s.canonical(&reference_names).unwrap(), MOBILE);
        assert_eq!(s.params_note(), "exact, whole network at width 1, 1000 classes, 3x224x224 input");
        let small = ProxylessRankSpace::new(ProxylessConfig::for_input(10, 3, 32)).unwrap();
        assert_eq!(small.feature_values(MOBILE).unwrap()[3..5], [2_805_330.0, 6_195_392.0]);
    }

    #[test]
    fn slots_and_choices_follow_the_blocks() {
        let s = ProxylessRankSpace::default();
        let slots = s.slots();
        assert_eq!(slots.len(), 21);
        assert_eq!((slots[0].as_str(), slots[4].as_str(), slots[20].as_str()), ("s1b1", "s2b1", "s6b1"));
        let choices = s.choices(MOBILE).unwrap();
        assert_eq!(choices.join(","), MOBILE);
        let e = s.canonical("k3e3,zero").unwrap_err();
        assert_eq!(e.space, "proxyless");
        assert!(e.to_string().starts_with("'k3e3,zero' is not a proxyless architecture: a subnet is 21"), "{e}");
    }

    #[test]
    fn fixed_stage_openers_restrict_sampling_and_parsing() {
        let s = ProxylessRankSpace::new(ProxylessConfig::for_input(10, 1, 28))
            .unwrap()
            .with_stage_openers(Some(BlockChoice::K3E6))
            .unwrap();
        super::super::contract::check(&s);
        let openers: Vec<usize> = (0..21).filter(|&i| !s.backbone().blocks[i].zero_allowed).collect();
        assert_eq!(openers, [0, 4, 8, 12, 16, 20]);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut seen_residual = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let sub = s.sample_subnet(&mut rng);
            for (i, c) in sub.choices().iter().enumerate() {
                if openers.contains(&i) {
                    assert_eq!(*c, BlockChoice::K3E6);
                } else {
                    seen_residual.insert(*c);
                }
            }
        }
        assert_eq!(seen_residual.len(), 7, "the residual blocks keep all seven choices");
        // MOBILE opens s1 with k5e3: outside this subspace, named precisely.
        let e = s.canonical(MOBILE).unwrap_err();
        assert!(e
            .reason
            .starts_with("block s1b1 runs k5e3, but this supernet fixes every stage-opening block to k3e6"));
        let inside = MOBILE
            .split(',')
            .enumerate()
            .map(|(i, c)| if openers.contains(&i) { "k3e6" } else { c })
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(s.canonical(&inside).unwrap(), inside);
        assert!(s.params_note().ends_with("; stage openers fixed to k3e6"));
        let e = ProxylessRankSpace::default().with_stage_openers(Some(BlockChoice::Zero)).unwrap_err();
        assert!(e.to_string().contains("stage-opening blocks cannot be zero"), "{e}");
    }

    #[test]
    fn sampling_is_uniform_over_each_blocks_allowed_choices() {
        let s = ProxylessRankSpace::default();
        let b = s.backbone();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 7000;
        let mut counts = vec![[0usize; 7]; 21];
        for _ in 0..n {
            for (i, c) in s.sample_subnet(&mut rng).choices().iter().enumerate() {
                counts[i][BlockChoice::ALL.iter().position(|x| x == c).unwrap()] += 1;
            }
        }
        for (i, row) in counts.iter().enumerate() {
            let k = b.allowed_choices(i).len();
            assert_eq!(row[6] == 0, k == 6, "block {i}: zero drawn only where allowed");
            // Expected n/k per allowed choice (1000 or 1167); a seeded draw, ±15% is > 5 standard deviations.
            for &c in &row[..k] {
                let expected = n as f64 / k as f64;
                assert!((c as f64 - expected).abs() < 0.15 * expected, "block {i}: {row:?}");
            }
        }
    }
}
