//! The ProxylessNAS mobile search space (Cai, Zhu & Han 2019) as mit-han-lab/proxylessnas builds
//! its `SuperProxylessNASNets` for ImageNet, engine-free: the backbone's shape, subnets and their
//! exact parameter and multiply-accumulate counts. docs/proxyless.md describes the space.
//!
//! - [`BlockChoice`]: MBConv k{3,5,7} × expand {3,6}, or `zero` (the block is skipped).
//! - [`ProxylessConfig`] and [`Backbone`]: width multiplier, classes, input; widths, strides and
//!   spatial sizes of every layer, and where `zero` is allowed.
//! - [`Subnet`]: 21 choices, parsed from `k3e3,k5e6,zero,...` or the reference's names.
//! - [`Cost`]: parameters and multiply-accumulates of a subnet's network.

mod backbone;
mod choice;
mod cost;
mod subnet;

pub use backbone::{
    conv_out_size, make_divisible, Backbone, Block, ConfigError, ProxylessConfig, Stage, FEATURE_MIX_WIDTH,
    FIRST_BLOCK_WIDTH, REFERENCE_STAGES, STEM_WIDTH, WIDTH_DIVISOR,
};
pub use choice::{BlockChoice, CHOICE_LIST};
pub use cost::{Cost, CostBreakdown};
pub use subnet::{Subnet, SubnetError};
