//! Differentiable search on tch: supernets, the bilevel loop, the Hessian probe.
//!
//! - [`search_loop`]: the loop (mechanics only); [`epoch`]: one epoch of bilevel training;
//!   [`state`]: checkpoints; [`record`]: the `search.jsonl` record.
//! - [`space`]: a space's config → its supernet ([`nb201_supernet`], [`darts_supernet`]).
//! - [`architect`]: the α step; [`hessian`]: λmax.

pub mod architect;
pub mod darts_supernet;
pub mod epoch;
pub mod hessian;
pub mod mixed_op;
pub mod nb201_supernet;
pub mod record;
pub mod search_loop;
pub mod space;
pub mod state;
pub mod supernet;

pub use darts_supernet::{DartsSupernet, DartsSupernetConfig};
pub use epoch::evaluate_supernet;
pub use nb201_supernet::{Nb201Supernet, Nb201SupernetConfig};
pub use record::{DecisionRecord, SearchEpoch};
pub use search_loop::{Search, SearchError, SearchOutcome, SearchStart};
pub use space::build_supernet;
pub use supernet::{ArchCell, EdgeState, Supernet};
