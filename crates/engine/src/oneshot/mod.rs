//! Single-path weight sharing (the setting of "How does supernet help in NAS?"): train a supernet by
//! sampling one architecture per step, then score any architecture with the inherited weights.
//!
//! Training and scoring see a space through two traits: the engine-free
//! [`oxnas_core::oneshot::RankSpace`] (sampling, canonical strings, features) and [`SinglePathNet`]
//! here (the network that runs one architecture's path). [`build`] is the one place that turns a
//! space's config into its network.

pub mod darts;
pub mod fewshot;
pub mod nb101;
pub mod proxyless;
pub mod prune;
pub mod score;
pub mod score_run;
pub mod stage;
pub mod text;
pub mod train;

use crate::search::{EdgeState, ImageSupernet, Nb201Supernet, Nb201SupernetConfig, Supernet};
use oxnas_core::config::{ConfigError, Execution, OneShotConfig};
use oxnas_core::nb201::Nb201Arch;
use oxnas_core::oneshot::ArchError;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// A weight-sharing network that runs the path of one architecture at a time.
pub trait SinglePathNet {
    /// Runs only `arch`'s path (a canonical string of the net's space) from now on.
    fn set_path(&mut self, arch: &str) -> Result<(), ArchError>;
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor;
    /// All weights and BN buffers, named as checkpoints store them.
    fn weights(&self) -> &VarStore;
}

impl SinglePathNet for Nb201Supernet {
    fn set_path(&mut self, arch: &str) -> Result<(), ArchError> {
        let a: Nb201Arch =
            arch.parse().map_err(|e| ArchError { space: "nb201", text: arch.to_string(), reason: format!("{e}") })?;
        // Edge states are set directly: α is unused in single-path training and must stay untouched.
        self.arch_mut()[0].states = a.ops.iter().map(|&op| EdgeState::Fixed(op as usize)).collect();
        Ok(())
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        ImageSupernet::forward_t(self, x, train)
    }

    fn weights(&self) -> &VarStore {
        Supernet::weights(self)
    }
}

/// The single-path image network a `[supernet]` section describes, on `device`, with weights
/// initialised from `seed`; the recurrent space's network is [`text::TextSupernet`].
pub fn build(
    cfg: &OneShotConfig,
    seed: u64,
    num_classes: i64,
    in_channels: i64,
    device: Device,
) -> Result<Box<dyn SinglePathNet>, ConfigError> {
    tch::manual_seed(seed as i64);
    Ok(match cfg {
        OneShotConfig::Nb201(c) => Box::new(Nb201Supernet::new(
            &Nb201SupernetConfig {
                channels: c.channels,
                cells_per_stage: c.cells_per_stage,
                num_classes,
                in_channels,
                track_running_stats: c.track_running_stats,
                pool_bn: false,
                // Single-path training runs one op per edge: nothing to fuse, and its
                // results stay those of the reference layout.
                execution: Execution::PerEdge,
            },
            device,
        )),
        OneShotConfig::Darts(c) => Box::new(darts::supernet(
            c.op_set().expect("a validated config has a valid op set"),
            c.channels,
            c.layers,
            c.track_running_stats,
            (num_classes, in_channels),
            device,
        )),
        OneShotConfig::Nb101(c) => Box::new(nb101::supernet(c, (num_classes, in_channels), device)),
        // The network's weights do not depend on the image side, so the data's resolution is not
        // needed here (only the rank space's FLOPs feature uses it).
        OneShotConfig::Proxyless(c) => Box::new(
            proxyless::ProxylessSupernet::new(
                &crate::nn::ProxylessNetConfig {
                    width_mult: c.width_mult,
                    num_classes,
                    in_channels,
                    track_running_stats: c.track_running_stats,
                },
                crate::nn::ProxylessSupernetOptions {
                    stage_openers: c.stage_openers,
                    zero_init_residual: c.zero_init_residual,
                },
                device,
            )
            .expect("a validated config has a positive width multiplier, non-zero stage openers, and the data classes and channels"),
        ),
        OneShotConfig::DartsRnn(_) => {
            return Err(ConfigError::Invalid(
                "the darts-rnn supernet is a language model over a text corpus; this command takes the image spaces \
                 (nb201, darts, nb101, proxyless)"
                    .into(),
            ))
        }
    })
}

/// The trainable weights of a single-path net, in a fixed order (by name), for the optimiser.
pub fn trainable_weights(net: &dyn SinglePathNet) -> Vec<(String, Tensor)> {
    crate::search::supernet::sorted_trainable(net.weights())
}

/// The smallest supernet the unit tests score: C=2, one cell per stage, 1-channel input, 10 classes.
#[cfg(test)]
pub(crate) fn tiny_config(track_running_stats: bool) -> crate::search::Nb201SupernetConfig {
    crate::search::Nb201SupernetConfig {
        channels: 2,
        cells_per_stage: 1,
        num_classes: 10,
        in_channels: 1,
        track_running_stats,
        pool_bn: false,
        execution: Execution::PerEdge,
    }
}

/// Every cell of the full NB201 space, for tests.
#[cfg(test)]
pub(crate) fn nb201_cells() -> Vec<String> {
    oxnas_core::oneshot::Nb201RankSpace::default().cells().iter().map(|a| a.to_string()).collect()
}

/// What the supernet trainers' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    use super::train::SupernetEpoch;
    use crate::progress::Progress;

    /// Asks to stop after the first epoch.
    pub struct StopAfterFirst;

    impl Progress<SupernetEpoch> for StopAfterFirst {
        fn interrupted(&mut self) -> bool {
            true
        }
    }

    /// A log without its timings, which differ between equal runs.
    pub fn strip(h: &[SupernetEpoch]) -> Vec<SupernetEpoch> {
        h.iter()
            .map(|e| SupernetEpoch { epoch_time_s: 0.0, images_per_s: None, tokens_per_s: None, ..e.clone() })
            .collect()
    }
}
