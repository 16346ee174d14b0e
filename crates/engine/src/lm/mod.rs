//! Retraining a DARTS recurrent cell as a word-level language model: the NT-ASGD optimiser and the
//! epoch loop with exact resume.

pub mod nt_asgd;
pub mod trainer;

pub use trainer::{LmEpoch, LmSummary, LmTrainer};
