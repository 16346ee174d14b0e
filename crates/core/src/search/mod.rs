//! Engine-free search logic: SGAS edge decisions, the local-average λmax stop rule, genotype
//! derivation from α, the SGAS-es phase controller, and the decision policies built from them.

pub mod derive;
pub mod early_stop;
pub mod phase;
pub mod policy;
pub mod sgas;
pub mod topology;

pub use derive::{derive_darts, derive_darts_cell, derive_nb201, softmax_rows, DeriveError, MatrixError};
pub use early_stop::{EarlyStopError, LambdaRule, LocalAverage};
pub use phase::{DartsEsConfig, PhaseAction, PhaseConfig, PhaseController, PhaseError, PhaseMode};
pub use policy::{Action, AnyPolicy, CellDecision, Policy, PolicyError};
pub use sgas::{Criterion, EdgeDecision, EdgeScores, EdgeState, Observation, SgasCellState, SgasError};
pub use topology::{CellTopology, TopologyError};
