//! How the long-running loops (retraining, search, supernet training) talk to whoever runs them: the
//! CLI draws a bar on a terminal and plain lines otherwise; tests stop a run at a chosen point. One
//! trait for all three, generic over the record each loop logs per epoch.

/// Receives a run's progress. `E` is the loop's per-epoch record (`EpochMetrics`, `SearchEpoch`,
/// `SupernetEpoch`); every method has a do-nothing default.
pub trait Progress<E> {
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    fn batch(&mut self, _done: usize, _loss: f64) {}
    fn epoch_end(&mut self, _e: &E) {}
    fn message(&mut self, _msg: &str) {}
    /// Polled after each checkpoint; returning true stops the run there (Ctrl-C, tests).
    fn interrupted(&mut self) -> bool {
        false
    }
}

/// A `Progress` that ignores everything (tests, library use).
pub struct Quiet;
impl<E> Progress<E> for Quiet {}
