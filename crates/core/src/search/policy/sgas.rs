//! SGAS (Li et al., CVPR 2020; lightaime/sgas): after `warmup_epochs`, fix one edge per cell every
//! `frequency` epochs, the edge with the best criterion score; the batch grows by
//! `batch_increase` after each decision. Scores use the op-distribution history, which is
//! extended every epoch.

use super::{diagnostic_lambda, observe, sgas_architecture, Action, Policy, PolicyError};
use crate::arch::Architecture;
use crate::config::SgasConfig;
use crate::search::SgasCellState;
use crate::space::{CellAlphas, SearchSpace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SgasPolicy {
    config: SgasConfig,
    epochs: usize,
    base_batch: usize,
    lambda_every: Option<usize>,
    cells: Vec<SgasCellState>,
    /// Epochs at which edges were decided (both cells deciding in one epoch count once).
    decisions: usize,
    finished: bool,
}

impl SgasPolicy {
    pub fn new(
        config: &SgasConfig,
        space: &dyn SearchSpace,
        epochs: usize,
        base_batch: usize,
        lambda_every: Option<usize>,
    ) -> Result<Self, PolicyError> {
        Ok(SgasPolicy {
            config: *config,
            epochs,
            base_batch,
            lambda_every,
            cells: space.sgas_cells(config.history)?,
            decisions: 0,
            finished: false,
        })
    }

    /// Decide at the end of `epoch` iff an edge is undecided, `epoch >= warmup_epochs` and
    /// `(epoch − warmup_epochs)` is a multiple of `frequency`.
    fn is_decision_epoch(&self, epoch: usize) -> bool {
        let c = &self.config;
        let any = self.cells.iter().any(|s| !s.is_done());
        any && epoch >= c.warmup_epochs && (epoch - c.warmup_epochs).is_multiple_of(c.frequency)
    }
}

impl Policy for SgasPolicy {
    fn name(&self) -> &'static str {
        "SGAS"
    }

    fn needs_lambda(&self, epoch: usize) -> bool {
        diagnostic_lambda(self.lambda_every, epoch, self.epochs)
    }

    fn epochs(&self) -> usize {
        self.epochs
    }

    fn batch_size(&self) -> usize {
        self.base_batch + self.config.batch_increase * self.decisions
    }

    fn phase(&self) -> usize {
        self.decisions
    }

    fn end_of_epoch(&mut self, epoch: usize, _: Option<f64>, cells: &[CellAlphas]) -> Result<Action, PolicyError> {
        let decide = self.is_decision_epoch(epoch);
        let decisions = observe(&mut self.cells, cells, self.config.criterion, decide)?;
        self.finished = epoch + 1 >= self.epochs;
        if decide {
            self.decisions += 1;
            return Ok(Action::Decided { decisions, event: format!("SGAS decision {}", self.decisions) });
        }
        Ok(if self.finished { Action::Finish } else { Action::Continue })
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn architecture(&self, space: &dyn SearchSpace, cells: &[CellAlphas]) -> Result<Architecture, PolicyError> {
        sgas_architecture(&self.cells, space, cells)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::nb201_alphas;
    use super::*;
    use crate::search::Criterion;
    use crate::space::Nb201Space;

    fn reference(batch_increase: usize) -> SgasConfig {
        SgasConfig { criterion: Criterion::Cri1, warmup_epochs: 9, frequency: 5, history: 4, batch_increase }
    }

    #[test]
    fn reference_schedule_decides_at_9_14_19_and_grows_the_batch() {
        // lightaime/sgas CIFAR-10: warm-up 9, every 5 epochs, batch 64 + 8 per decision. NB201 has
        // 6 edges, so decisions at 9, 14, …, 34 and none after.
        let mut p = SgasPolicy::new(&reference(8), &Nb201Space, 50, 64, None).unwrap();
        let cells = nb201_alphas(3, 2.0);
        let mut decided = vec![];
        for e in 0..50 {
            let before = p.batch_size();
            match p.end_of_epoch(e, None, &cells).unwrap() {
                Action::Decided { decisions, event } => {
                    assert_eq!(decisions.len(), 1, "one edge per cell per decision epoch");
                    assert_eq!(decisions[0].decision.op, 3, "the strongest op");
                    assert!(event.contains(&p.phase().to_string()));
                    assert_eq!(p.batch_size(), before + 8);
                    decided.push(e);
                }
                Action::Finish => assert_eq!(e, 49),
                Action::Continue => {}
                other => panic!("epoch {e}: {other:?}"),
            }
        }
        assert_eq!(decided, vec![9, 14, 19, 24, 29, 34]);
        assert_eq!(p.batch_size(), 64 + 6 * 8);
        assert!(p.finished());
        let arch = p.architecture(&Nb201Space, &cells).unwrap().reference_string();
        assert!(!arch.contains("none"), "{arch}");
        assert!(p.snapshot().is_none(), "SGAS never rolls back");
    }
}
