//! DARTS: train α and w to the end, then take the argmax architecture. With a λmax rule this is
//! DARTS-ES (RobustDARTS): the search ends the first time the rule fires, and the result is the
//! architecture of the epoch the rule points back to.

use super::{diagnostic_lambda, Action, Policy, PolicyError};
use crate::arch::Architecture;
use crate::search::{DartsEsConfig, LambdaRule, PhaseAction, PhaseController};
use crate::space::{CellAlphas, SearchSpace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgmaxPolicy {
    epochs: usize,
    batch_size: usize,
    /// λmax every this many epochs (None: Hessian off).
    lambda_every: Option<usize>,
    /// The DARTS-ES tracker, when a rule is set.
    early_stop: Option<PhaseController>,
    stop_epoch: Option<usize>,
    finished: bool,
}

impl ArgmaxPolicy {
    pub fn new(
        epochs: usize,
        batch_size: usize,
        lambda_every: Option<usize>,
        rule: Option<LambdaRule>,
    ) -> Result<Self, PolicyError> {
        let early_stop = match rule {
            Some(rule) => {
                let ev_freq = lambda_every.unwrap_or(1);
                Some(PhaseController::early_stop_only(DartsEsConfig { rule, ev_freq, total_epochs: epochs })?)
            }
            None => None,
        };
        Ok(ArgmaxPolicy { epochs, batch_size, lambda_every, early_stop, stop_epoch: None, finished: false })
    }
}

impl Policy for ArgmaxPolicy {
    fn name(&self) -> &'static str {
        "argmax"
    }

    fn needs_lambda(&self, epoch: usize) -> bool {
        match &self.early_stop {
            Some(c) => c.needs_hessian(epoch),
            None => diagnostic_lambda(self.lambda_every, epoch, self.epochs),
        }
    }

    fn epochs(&self) -> usize {
        self.epochs
    }

    fn batch_size(&self) -> usize {
        self.batch_size
    }

    fn phase(&self) -> usize {
        0
    }

    fn end_of_epoch(&mut self, epoch: usize, lambda: Option<f64>, _: &[CellAlphas]) -> Result<Action, PolicyError> {
        let action = match self.early_stop.as_mut() {
            Some(c) => {
                let lambda = if c.needs_hessian(epoch) { lambda } else { None };
                c.end_of_epoch(epoch, lambda)?
            }
            None if epoch + 1 >= self.epochs => PhaseAction::Finished,
            None => PhaseAction::Continue,
        };
        Ok(match action {
            PhaseAction::Stop { stop_epoch } => {
                self.stop_epoch = Some(stop_epoch);
                self.finished = true;
                let event = format!("DARTS-ES stop: λmax local average rose; architecture of epoch {}", stop_epoch + 1);
                Action::Stop { arch_epoch: stop_epoch, event }
            }
            PhaseAction::Finished => {
                self.finished = true;
                Action::Finish
            }
            PhaseAction::Continue | PhaseAction::Decide { .. } => Action::Continue,
        })
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn result_epoch(&self) -> Option<usize> {
        self.stop_epoch
    }

    fn architecture(&self, space: &dyn SearchSpace, cells: &[CellAlphas]) -> Result<Architecture, PolicyError> {
        Ok(space.derive(cells)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::nb201_alphas;
    use super::*;
    use crate::space::Nb201Space;

    #[test]
    fn plain_darts_runs_to_the_end_and_asks_for_diagnostic_lambda() {
        let mut p = ArgmaxPolicy::new(5, 64, Some(2), None).unwrap();
        let wanted: Vec<usize> = (0..5).filter(|&e| p.needs_lambda(e)).collect();
        assert_eq!(wanted, vec![0, 2, 4], "every 2nd epoch and the last");
        let cells = nb201_alphas(3, 1.0);
        for e in 0..4 {
            assert_eq!(p.end_of_epoch(e, None, &cells).unwrap(), Action::Continue);
        }
        assert_eq!(p.end_of_epoch(4, Some(1.0), &cells).unwrap(), Action::Finish);
        assert!(p.finished());
        assert_eq!(p.result_epoch(), None);
        let a = p.architecture(&Nb201Space, &cells).unwrap();
        assert_eq!(
            a.reference_string(),
            "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        );
        let off = ArgmaxPolicy::new(5, 64, None, None).unwrap();
        assert!((0..5).all(|e| !off.needs_lambda(e)), "Hessian off: never");
    }

    #[test]
    fn darts_es_stops_at_the_rule_and_points_back() {
        // Window 1, delta 2, factor 1.5, from epoch 0, λ every epoch: λ = 1, 1, 1, 2 fires at epoch
        // 3 (2 / 1 > 1.5) and points back delta = 2 evaluations, to epoch 1.
        let rule = LambdaRule { window: 1, delta: 2, factor: 1.5, start_epoch: 0 };
        let mut p = ArgmaxPolicy::new(10, 64, Some(1), Some(rule)).unwrap();
        let cells = nb201_alphas(1, 1.0);
        for (e, l) in [1.0, 1.0, 1.0].into_iter().enumerate() {
            assert!(p.needs_lambda(e));
            assert_eq!(p.end_of_epoch(e, Some(l), &cells).unwrap(), Action::Continue);
        }
        let a = p.end_of_epoch(3, Some(2.0), &cells).unwrap();
        assert!(matches!(a, Action::Stop { arch_epoch: 1, .. }), "{a:?}");
        assert!(p.finished());
        assert_eq!(p.result_epoch(), Some(1));
        assert!(!p.needs_lambda(4), "no λ once stopped");
        // A missing λ on a λ epoch is a protocol error, not a silent skip.
        let mut q = ArgmaxPolicy::new(10, 64, Some(1), Some(rule)).unwrap();
        assert!(q.end_of_epoch(0, None, &cells).is_err());
    }
}
