//! The one place that turns a space's config into its supernet: registering a new space is one
//! arm here (and its variant in `oxnas_core::config::SupernetConfig`).

use super::{DartsSupernet, DartsSupernetConfig, ImageSupernet, Nb201Supernet, Nb201SupernetConfig, SearchError};
use oxnas_core::config::SupernetConfig;
use tch::Device;

/// Builds the image supernet `cfg` describes; parameters come from libtorch's generator, which the
/// caller seeds. The recurrent supernet is built by its own workload (`text_workload`).
pub fn build_supernet(
    cfg: &SupernetConfig,
    num_classes: i64,
    in_channels: i64,
    device: Device,
) -> Result<Box<dyn ImageSupernet>, SearchError> {
    Ok(match cfg {
        SupernetConfig::DartsRnn(_) => {
            return Err(SearchError::Invalid("supernet.space = \"darts-rnn\" trains on text, not images".into()))
        }
        SupernetConfig::Nb201(s) => Box::new(Nb201Supernet::new(
            &Nb201SupernetConfig {
                channels: s.channels,
                cells_per_stage: s.cells_per_stage,
                num_classes,
                in_channels,
                track_running_stats: s.track_running_stats,
                pool_bn: s.pool_bn,
                execution: s.execution,
            },
            device,
        )),
        SupernetConfig::Darts(s) => Box::new(DartsSupernet::new(
            &DartsSupernetConfig {
                channels: s.channels,
                layers: s.layers,
                steps: s.steps,
                num_classes,
                in_channels,
                ops: s.ops.clone(),
                track_running_stats: true,
                execution: s.execution,
            },
            device,
        )),
    })
}
