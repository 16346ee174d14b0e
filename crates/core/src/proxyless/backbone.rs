//! The shape of the ProxylessNAS mobile backbone: which layers it has, their widths, strides and
//! spatial sizes, before any block has chosen its op.
//!
//! Layers, in order: a 3x3 stride-2 conv to 32 channels (BN, ReLU6); a fixed MBConv block (expand 1,
//! 3x3) to 16 channels; the searchable blocks, stage by stage (widths 24, 40, 80, 96, 192, 320 with
//! 4, 4, 4, 4, 4, 1 blocks; a stage's first block has the stage's stride, the others stride 1); a 1x1
//! feature-mix conv to 1280 channels (BN, ReLU6); global average pooling; dropout and a linear
//! classifier. Widths scale with the width multiplier and round as the reference's `make_divisible`.

/// One stage of searchable blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    /// Output channels of every block of the stage, before the width multiplier.
    pub width: usize,
    /// Number of searchable blocks.
    pub blocks: usize,
    /// Stride of the stage's first block (the others have stride 1).
    pub stride: usize,
}

/// The mobile backbone's stages as the reference's architecture search sets them (21 blocks).
pub const REFERENCE_STAGES: [Stage; 6] = [
    Stage { width: 24, blocks: 4, stride: 2 },
    Stage { width: 40, blocks: 4, stride: 2 },
    Stage { width: 80, blocks: 4, stride: 2 },
    Stage { width: 96, blocks: 4, stride: 1 },
    Stage { width: 192, blocks: 4, stride: 2 },
    Stage { width: 320, blocks: 1, stride: 1 },
];

/// Channels of the first conv, before the width multiplier.
pub const STEM_WIDTH: usize = 32;
/// Channels of the fixed first MBConv block, before the width multiplier.
pub const FIRST_BLOCK_WIDTH: usize = 16;
/// Channels of the feature-mix layer (scaled only by multipliers above 1, as in the reference).
pub const FEATURE_MIX_WIDTH: usize = 1280;
/// Every width is rounded to a multiple of this.
pub const WIDTH_DIVISOR: usize = 8;

/// What the network is built for: width, classes, input.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxylessConfig {
    /// Scales every width (1.0 = the reference widths).
    pub width_mult: f64,
    pub classes: usize,
    pub in_channels: usize,
    /// Side of the square input image.
    pub resolution: usize,
    pub stages: Vec<Stage>,
}

impl Default for ProxylessConfig {
    /// The reference's ImageNet setting: width 1.0, 1000 classes, 3x224x224 input.
    fn default() -> Self {
        ProxylessConfig {
            width_mult: 1.0,
            classes: 1000,
            in_channels: 3,
            resolution: 224,
            stages: REFERENCE_STAGES.to_vec(),
        }
    }
}

impl ProxylessConfig {
    /// The reference backbone at width 1.0 for another input and class count (e.g. 10 classes of
    /// 1x28x28 Fashion-MNIST, or 3x32x32 CIFAR-10).
    pub fn for_input(classes: usize, in_channels: usize, resolution: usize) -> Self {
        ProxylessConfig { classes, in_channels, resolution, ..Default::default() }
    }

    /// The layer shapes, after checking the configuration.
    pub fn backbone(&self) -> Result<Backbone, ConfigError> {
        Backbone::new(self.clone())
    }
}

/// A configuration the backbone cannot be built from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("width multiplier {0} must be a positive finite number (1.0 is the reference width)")]
    WidthMult(f64),
    #[error("{what} must be at least 1")]
    Zero { what: String },
    #[error("stage {stage}: stride {stride} is not supported; use 1 or 2")]
    Stride { stage: usize, stride: usize },
    #[error("the backbone needs at least one stage of searchable blocks")]
    NoStages,
    #[error(
        "stage-opening blocks cannot be zero: they change the width or the resolution, so there is no shortcut \
         to pass the input through (pick an MBConv such as k3e6)"
    )]
    ZeroOpener,
}

/// The reference's width rounding (it follows the TensorFlow MobileNet code): the nearest multiple
/// of `divisor`, at least `divisor`, and never more than 10% below `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    // `as usize` truncates like the reference's `int(v + divisor / 2)` for positive v.
    let mut rounded = (((v + d / 2.0) as usize) / divisor * divisor).max(divisor);
    if (rounded as f64) < 0.9 * v {
        rounded += divisor;
    }
    rounded
}

/// Output side of a "same"-padded conv (padding k/2, odd k): ⌈size / stride⌉, whatever the kernel.
pub fn conv_out_size(size: usize, stride: usize) -> usize {
    (size - 1) / stride + 1
}

/// One searchable block position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// `s{stage}b{block}`, both 1-based: `s1b1` is the first searchable block.
    pub name: String,
    /// 1-based stage number.
    pub stage: usize,
    pub in_width: usize,
    pub out_width: usize,
    pub stride: usize,
    /// Side of the block's input feature map.
    pub in_size: usize,
    /// The reference offers `zero` (and adds an identity shortcut) only where the block keeps
    /// the shape: stride 1 and equal input and output widths.
    pub zero_allowed: bool,
}

impl Block {
    pub fn out_size(&self) -> usize {
        conv_out_size(self.in_size, self.stride)
    }
}

/// The backbone's layer shapes for one configuration. Spatial sizes do not depend on the subnet:
/// `zero` is only allowed at stride 1, where every choice keeps the size.
#[derive(Debug, Clone, PartialEq)]
pub struct Backbone {
    pub config: ProxylessConfig,
    pub stem_width: usize,
    /// Side of the first conv's output (the first block keeps it).
    pub stem_size: usize,
    pub first_block_width: usize,
    pub blocks: Vec<Block>,
    pub feature_mix_width: usize,
}

impl Backbone {
    pub fn new(config: ProxylessConfig) -> Result<Backbone, ConfigError> {
        let wm = config.width_mult;
        if !(wm.is_finite() && wm > 0.0) {
            return Err(ConfigError::WidthMult(wm));
        }
        for (what, v) in
            [("classes", config.classes), ("in_channels", config.in_channels), ("resolution", config.resolution)]
        {
            if v == 0 {
                return Err(ConfigError::Zero { what: what.into() });
            }
        }
        if config.stages.is_empty() {
            return Err(ConfigError::NoStages);
        }
        let scale = |w: usize| make_divisible(w as f64 * wm, WIDTH_DIVISOR);
        let stem_width = scale(STEM_WIDTH);
        let stem_size = conv_out_size(config.resolution, 2);
        let first_block_width = scale(FIRST_BLOCK_WIDTH);
        let mut blocks = vec![];
        let (mut width, mut size) = (first_block_width, stem_size);
        for (s, stage) in config.stages.iter().enumerate() {
            if stage.stride != 1 && stage.stride != 2 {
                return Err(ConfigError::Stride { stage: s + 1, stride: stage.stride });
            }
            if stage.blocks == 0 || stage.width == 0 {
                return Err(ConfigError::Zero { what: format!("stage {}'s blocks and width", s + 1) });
            }
            let out_width = scale(stage.width);
            for b in 0..stage.blocks {
                let stride = if b == 0 { stage.stride } else { 1 };
                let block = Block {
                    name: format!("s{}b{}", s + 1, b + 1),
                    stage: s + 1,
                    in_width: width,
                    out_width,
                    stride,
                    in_size: size,
                    zero_allowed: stride == 1 && width == out_width,
                };
                size = block.out_size();
                width = out_width;
                blocks.push(block);
            }
        }
        // The reference widens the feature-mix layer with multipliers above 1 but never narrows it.
        let feature_mix_width = if wm > 1.0 { scale(FEATURE_MIX_WIDTH) } else { FEATURE_MIX_WIDTH };
        Ok(Backbone { config, stem_width, stem_size, first_block_width, blocks, feature_mix_width })
    }

    /// Channels entering the feature-mix layer (the last stage's width).
    pub fn last_width(&self) -> usize {
        self.blocks.last().map_or(self.first_block_width, |b| b.out_width)
    }

    /// Side of the feature map the feature-mix layer sees (and global pooling averages).
    pub fn final_size(&self) -> usize {
        self.blocks.last().map_or(self.stem_size, Block::out_size)
    }

    /// The block names, in order (`s1b1` … `s6b1` for the reference stages).
    pub fn block_names(&self) -> Vec<String> {
        self.blocks.iter().map(|b| b.name.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_divisible_matches_the_reference_rounding() {
        // Values worked by hand from max(8, int(v + 4) // 8 * 8), plus 8 when that is below 0.9 v.
        assert_eq!(make_divisible(32.0, 8), 32);
        assert_eq!(make_divisible(24.0 * 0.5, 8), 16); // int(16) // 8 * 8 = 16
        assert_eq!(make_divisible(16.0 * 0.35, 8), 8); // 5.6 -> max(8, 8) = 8
        assert_eq!(make_divisible(40.0 * 0.35, 8), 16); // 14 -> int(18) // 8 * 8 = 16
        assert_eq!(make_divisible(96.0 * 0.75, 8), 72);
        assert_eq!(make_divisible(1280.0 * 1.4, 8), 1792);
        assert_eq!(make_divisible(40.0 * 1.4, 8), 56);
        assert_eq!(make_divisible(24.0 * 1.4, 8), 32); // 33.6 -> int(37.6) // 8 * 8 = 32
                                                       // The 10% rule: int(110) // 40 * 40 = 80 is below 0.9 * 90 = 81, so one more step: 120.
        assert_eq!(make_divisible(90.0, 40), 120);
    }

    #[test]
    fn reference_layout() {
        let b = ProxylessConfig::default().backbone().unwrap();
        assert_eq!(b.blocks.len(), 21);
        assert_eq!((b.stem_width, b.first_block_width, b.feature_mix_width), (32, 16, 1280));
        assert_eq!(b.stem_size, 112);
        let firsts: Vec<_> = b.blocks.iter().filter(|x| !x.zero_allowed).map(|x| x.name.as_str()).collect();
        // Each stage's first block changes width; the 96-wide stage's first block keeps the size
        // (stride 1) but still changes width (80 -> 96), so zero is not allowed there either.
        assert_eq!(firsts, ["s1b1", "s2b1", "s3b1", "s4b1", "s5b1", "s6b1"]);
        let sizes: Vec<usize> = b.blocks.iter().map(Block::out_size).collect();
        assert_eq!(sizes, [56, 56, 56, 56, 28, 28, 28, 28, 14, 14, 14, 14, 14, 14, 14, 14, 7, 7, 7, 7, 7]);
        assert_eq!((b.last_width(), b.final_size()), (320, 7));
        assert_eq!(b.block_names()[20], "s6b1");
    }

    #[test]
    fn small_inputs_keep_the_reference_strides_and_stay_at_least_one_pixel() {
        // 32: 16 after the first conv, then 8, 4, 2, 2, 1, 1 by stage.
        let b = ProxylessConfig::for_input(10, 3, 32).backbone().unwrap();
        let stage_out = |b: &Backbone| -> Vec<usize> {
            (1..=6).map(|s| b.blocks.iter().rfind(|x| x.stage == s).unwrap().out_size()).collect()
        };
        assert_eq!(b.stem_size, 16);
        assert_eq!(stage_out(&b), [8, 4, 2, 2, 1, 1]);
        // 28: 14, then 7, 4 (⌈7/2⌉ with same padding), 2, 2, 1, 1.
        let b = ProxylessConfig::for_input(10, 1, 28).backbone().unwrap();
        assert_eq!(b.stem_size, 14);
        assert_eq!(stage_out(&b), [7, 4, 2, 2, 1, 1]);
        // Even a 1-pixel input keeps every map at one pixel.
        let b = ProxylessConfig::for_input(10, 1, 1).backbone().unwrap();
        assert!(b.blocks.iter().all(|x| x.in_size == 1 && x.out_size() == 1));
    }

    #[test]
    fn width_multiplier_scales_all_but_a_narrowed_feature_mix() {
        let b = ProxylessConfig { width_mult: 0.5, ..Default::default() }.backbone().unwrap();
        let widths: Vec<usize> = b.blocks.iter().map(|x| x.out_width).collect();
        assert_eq!((b.stem_width, b.first_block_width), (16, 8));
        assert_eq!(widths.iter().step_by(4).copied().collect::<Vec<_>>(), [16, 24, 40, 48, 96, 160]);
        assert_eq!(b.feature_mix_width, 1280);
        let b = ProxylessConfig { width_mult: 1.4, ..Default::default() }.backbone().unwrap();
        assert_eq!((b.stem_width, b.first_block_width, b.feature_mix_width), (48, 24, 1792));
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let bad = |c: ProxylessConfig| c.backbone().unwrap_err().to_string();
        assert!(bad(ProxylessConfig { width_mult: 0.0, ..Default::default() }).contains("positive finite"));
        assert!(bad(ProxylessConfig { width_mult: f64::NAN, ..Default::default() }).contains("positive finite"));
        assert_eq!(bad(ProxylessConfig::for_input(0, 3, 32)), "classes must be at least 1");
        assert_eq!(bad(ProxylessConfig::for_input(10, 3, 0)), "resolution must be at least 1");
        let mut c = ProxylessConfig::default();
        c.stages[2].stride = 3;
        assert_eq!(bad(c), "stage 3: stride 3 is not supported; use 1 or 2");
        assert!(bad(ProxylessConfig { stages: vec![], ..Default::default() }).contains("at least one stage"));
    }
}
