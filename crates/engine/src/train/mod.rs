//! Retraining an architecture from scratch: model building, optimiser, the epoch loop, metrics.

pub mod metrics;
pub mod model;
#[cfg(test)]
mod nb101_runs;
pub mod optim;
pub mod trainer;

pub use metrics::{EpochMetrics, EvalResult};
pub use model::{Architecture, Model};
pub use trainer::{evaluate, predict_logits, Start, TrainError, TrainSummary, Trainer};
