//! Engine-free search policies: SGAS edge decisions, the local-average early-stop rule, genotype derivation from α, and the SGAS-es phase controller.

pub mod derive;
pub mod early_stop;
pub mod phase;
pub mod sgas;
pub mod topology;

pub use derive::{derive_darts, derive_darts_cell, derive_nb201, softmax_rows, DeriveError, MatrixError};
pub use early_stop::{EarlyStopError, LocalAverage, StopRule};
pub use phase::{EarlyStopConfig, PhaseAction, PhaseConfig, PhaseController, PhaseError, PhaseMode};
pub use sgas::{Criterion, EdgeDecision, EdgeScores, EdgeState, Observation, SgasCellState, SgasError, SgasSchedule};
pub use topology::{CellTopology, TopologyError};
