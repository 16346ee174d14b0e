//! Builds the evaluation network a `ModelConfig` describes, on a fresh VarStore.

use crate::nn::{
    DartsNetConfig, DartsNetwork, DropPath, Nb101NetConfig, Nb101Network, Nb201NetConfig, Nb201Network,
    ProxylessNetConfig, ProxylessNetwork,
};
use crate::EngineError;
use oxnas_core::config::ModelConfig;
use tch::{nn::Path, nn::VarStore, Device, Tensor};

/// The architecture being trained (engine-free; it lives in `oxnas_core::arch`).
pub use oxnas_core::arch::Architecture;

#[allow(clippy::large_enum_variant)] // built once per network: boxing would only add an indirection per forward
pub enum Network {
    Nb201(Nb201Network),
    Darts(DartsNetwork),
    Nb101(Nb101Network),
    Proxyless(ProxylessNetwork),
}

pub struct Model {
    pub vs: VarStore,
    pub net: Network,
    pub arch: Architecture,
}

/// The network of `arch` with `m`'s sizes, its parameters under `p`.
fn network(
    p: &Path,
    m: &ModelConfig,
    arch: &Architecture,
    (num_classes, in_channels): (i64, i64),
) -> Result<Network, EngineError> {
    Ok(match arch {
        Architecture::Nb201(a) => {
            let cfg =
                Nb201NetConfig { channels: m.channels, cells_per_stage: m.cells_per_stage, num_classes, in_channels };
            Network::Nb201(cfg.init(p, a))
        }
        Architecture::Darts(g) => {
            let cfg = DartsNetConfig {
                channels: m.channels,
                layers: m.layers,
                num_classes,
                in_channels,
                auxiliary: m.auxiliary_weight > 0.0,
            };
            Network::Darts(cfg.init(p, g)?)
        }
        Architecture::Nb101(cell) => {
            let cfg = Nb101NetConfig {
                stem_channels: m.channels,
                stacks: 3,
                cells_per_stack: m.cells_per_stage,
                num_classes,
                in_channels,
            };
            Network::Nb101(cfg.init(p, cell))
        }
        Architecture::Proxyless(s) => {
            let cfg = ProxylessNetConfig {
                width_mult: m.width_mult.unwrap_or(1.0),
                num_classes,
                in_channels,
                track_running_stats: true,
            };
            let net = cfg.init(p, s)?;
            if m.zero_init_residual {
                net.zero_residual_gammas();
            }
            Network::Proxyless(net)
        }
        // `from_config` refuses the space; a recurrent cell is a language model (`lm::trainer`).
        Architecture::DartsRnn(_) => {
            return Err(oxnas_core::config::ConfigError::Invalid(oxnas_core::arch::LM_TRAINING.into()).into())
        }
    })
}

impl Model {
    /// Initialises parameters from `seed` (libtorch's generator is seeded here and only here).
    pub fn build(
        m: &ModelConfig,
        num_classes: i64,
        in_channels: i64,
        device: Device,
        seed: u64,
    ) -> Result<Self, EngineError> {
        let arch = Architecture::from_config(m)?;
        tch::manual_seed(seed as i64);
        let (vs, net) =
            crate::device::init_on_cpu(device, |vs| network(&vs.root(), m, &arch, (num_classes, in_channels)));
        Ok(Model { vs, net: net?, arch })
    }

    /// Logits and, for DARTS with an auxiliary head, the auxiliary logits.
    pub fn forward_train(&self, x: &Tensor, drop: &DropPath) -> (Tensor, Option<Tensor>) {
        match &self.net {
            Network::Nb201(n) => (n.forward_t(x, true), None),
            Network::Darts(n) => {
                let out = n.forward_t(x, true, drop);
                (out.logits, out.aux_logits)
            }
            Network::Nb101(n) => (n.forward_t(x, true), None),
            Network::Proxyless(n) => (n.forward_t(x, true), None),
        }
    }

    pub fn predict(&self, x: &Tensor) -> Tensor {
        match &self.net {
            Network::Nb201(n) => n.forward_t(x, false),
            Network::Darts(n) => n.predict(x),
            Network::Nb101(n) => n.forward_t(x, false),
            Network::Proxyless(n) => n.forward_t(x, false),
        }
    }

    pub fn num_params(&self) -> i64 {
        self.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }
}
