//! Differentiable search on tch: supernets, the bilevel loop, the Hessian probe.
//!
//! - [`search_loop`]: the loop (mechanics only); [`state`]: checkpoints; [`record`]: the
//!   `search.jsonl` record.
//! - [`workload`]: what one kind of supernet trains on: [`image_workload`] (NB201 and DARTS CNN
//!   supernets, built by [`space`]: [`nb201_supernet`], [`darts_supernet`]) and [`text_workload`]
//!   (the DARTS recurrent supernet, [`rnn_supernet`]).
//! - [`architect`]: the α step; [`hessian`]: λmax; [`sharpness`]: λmax of a saved checkpoint (`oxnas hessian`).

pub mod architect;
pub mod darts_supernet;
pub mod hessian;
pub mod image_workload;
pub mod mixed_op;
pub mod nb201_supernet;
pub mod record;
pub mod rnn_supernet;
pub mod search_loop;
pub mod sharpness;
pub mod space;
pub mod state;
pub mod supernet;
pub mod text_workload;
pub mod workload;

pub use darts_supernet::{DartsSupernet, DartsSupernetConfig};
pub use image_workload::evaluate_supernet;
pub use nb201_supernet::{Nb201Supernet, Nb201SupernetConfig};
pub use record::{DecisionRecord, SearchEpoch};
pub use search_loop::{Search, SearchError, SearchOutcome, SearchStart};
pub use space::build_supernet;
pub use supernet::{ArchCell, EdgeState, ImageSupernet, SecondOrderForm, Supernet};

/// A tiny search and an interrupting progress reporter, shared by the search tests.
#[cfg(test)]
pub(crate) mod test_support {
    use crate::progress::Progress;
    use oxnas_core::config::{ConfigFile, SearchConfig};

    /// A tiny SGAS-es search on NB201: 2 steps per epoch, phases of at most 7 epochs, and a λ rule with
    /// factor 0.5 so it fires at the first eligible epoch (a phase's 6th) and rolls back 5 epochs;
    /// no warm-up, the full Hessian.
    pub fn tiny(extra: &[&str]) -> SearchConfig {
        let mut sets: Vec<String> = [
            "supernet.channels=2",
            "data.train_limit=128",
            "optim.batch_size=32",
            "split.valid_eval_limit=32",
            "run.eval_batch_size=32",
            "data.train_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
            "data.eval_transform=[{kind=\"resize\",size=12},{kind=\"to_float\"}]",
            "decision.frequency=7",
            "decision.post_train=2",
            "early_stop.factor=0.5",
            "decision.weight_warmup=0",
            "hessian.mode=\"full\"",
            "optim.epochs=44",
            "run.device=\"cpu\"",
            "run.threads=1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        sets.extend(extra.iter().map(|s| s.to_string()));
        SearchConfig::resolve("cpu-demo", None, &sets).unwrap()
    }

    /// Asks to stop after this many executed epochs.
    pub struct StopAfter(pub usize);
    impl Progress<super::SearchEpoch> for StopAfter {
        fn interrupted(&mut self) -> bool {
            self.0 = self.0.saturating_sub(1);
            self.0 == 0
        }
    }
}
