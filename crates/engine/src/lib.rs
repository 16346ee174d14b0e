//! The tensor side of oxnas, on tch (libtorch 2.11.0).
//!
//! - [`nn`]: ops, the NAS-Bench-201 and DARTS evaluation networks, parameter names that match the
//!   reference PyTorch state_dicts, parameter and FLOP counts.
//! - [`device`]: `auto|cpu|cuda` selection, including the CUDA registration tch needs.

pub mod checkpoint;
pub mod device;
pub mod error;
pub mod lm;
pub mod nn;
pub mod oneshot;
pub mod progress;
pub mod run;
pub mod rundir;
pub mod search;
pub mod train;

pub use device::DeviceChoice;
pub use error::EngineError;
