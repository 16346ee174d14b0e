//! Differentiable search on tch: supernets, the bilevel loop, the Hessian probe.

pub mod architect;
pub mod darts_supernet;
pub mod hessian;
pub mod mixed_op;
pub mod nb201_supernet;
pub mod search_loop;
pub mod supernet;

pub use darts_supernet::{DartsSupernet, DartsSupernetConfig};
pub use nb201_supernet::{Nb201Supernet, Nb201SupernetConfig};
pub use search_loop::{Search, SearchEpoch, SearchError, SearchOutcome, SearchStart};
pub use supernet::{ArchCell, EdgeState, Supernet};
