//! Single-path weight sharing over the NAS-Bench-201 space (the setting of "How does supernet help in
//! NAS?"): train a supernet by sampling one architecture per step, then score any cell with the
//! inherited weights.
//!
//! The supernet is the NB201 search network with every edge set to `Fixed(op)` for the sampled cell,
//! so all cells share each (edge, op) module's weights, exactly as SPOS-style training shares them.

pub mod score;
pub mod score_run;
pub mod train;

use crate::search::{EdgeState, Nb201Supernet, Supernet};
use oxnas_core::nb201::{Nb201Arch, Nb201Op};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Points every edge of the supernet at the op `arch` has there.
pub fn set_path(net: &mut Nb201Supernet, arch: &Nb201Arch) {
    // Edge states are set directly: α is unused in single-path training and must stay untouched.
    net.arch_mut()[0].states = arch.ops.iter().map(|&op| EdgeState::Fixed(op as usize)).collect();
}

/// A cell drawn uniformly from the space spanned by `ops` on every edge.
pub fn sample_arch(rng: &mut ChaCha8Rng, ops: &[Nb201Op]) -> Nb201Arch {
    let mut a = Nb201Arch { ops: [Nb201Op::None; 6] };
    for slot in a.ops.iter_mut() {
        *slot = ops[rng.random_range(0..ops.len())];
    }
    a
}

/// Every cell whose ops all come from `ops`, in NAS-Bench-201 index order.
pub fn space_cells(ops: &[Nb201Op]) -> Vec<Nb201Arch> {
    (0..oxnas_core::nb201::NUM_ARCHS)
        .filter_map(|i| Nb201Arch::from_index(i).ok())
        .filter(|a| a.ops.iter().all(|o| ops.contains(o)))
        .collect()
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
    }
}
