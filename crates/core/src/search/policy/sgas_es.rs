//! SGAS-es (Shih-Ping Lin, NTU 2022; Tommy787576/SGAS-es-Final-Version): the search runs in phases,
//! one edge decision per cell each. Within a phase λmax is tracked by the local-average rule; when
//! it fires, the search rolls back to the epoch the rule points to and decides there; a phase that
//! reaches `frequency` λmax evaluations decides where it stands. After the last decision the
//! supernet trains `post_train` more epochs without Hessians.
//!
//! An optional weights-only warm-up (`weight_warmup` epochs, α frozen, no λmax) comes first; the
//! phases then run on a clock that starts when it ends, so the rule and its rollbacks never reach
//! back into the warm-up.

use super::{observe, sgas_architecture, Action, CellDecision, Policy, PolicyError};
use crate::arch::Architecture;
use crate::config::SgasEsConfig;
use crate::search::{LambdaRule, PhaseAction, PhaseConfig, PhaseController, SgasCellState};
use crate::space::{CellAlphas, SearchSpace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SgasEsPolicy {
    config: SgasEsConfig,
    base_batch: usize,
    controller: PhaseController,
    cells: Vec<SgasCellState>,
    decisions: usize,
    finished: bool,
}

impl SgasEsPolicy {
    pub fn new(
        config: &SgasEsConfig,
        rule: LambdaRule,
        space: &dyn SearchSpace,
        epochs: usize,
        base_batch: usize,
        lambda_every: usize,
    ) -> Result<Self, PolicyError> {
        let warmup = config.weight_warmup;
        if warmup >= epochs {
            return Err(PolicyError::WarmupTooLong { warmup, epochs });
        }
        let controller = PhaseController::new(PhaseConfig {
            decision_freq: config.frequency,
            rule,
            ev_freq: lambda_every,
            post_train: config.post_train,
            total_epochs: epochs - warmup,
        })?;
        Ok(SgasEsPolicy {
            config: *config,
            base_batch,
            controller,
            cells: space.sgas_cells(config.history)?,
            decisions: 0,
            finished: false,
        })
    }

    /// Fixes one edge per cell from α of `epoch` and opens the next phase after it.
    fn decide_at(&mut self, epoch: usize, cells: &[CellAlphas]) -> Result<Vec<CellDecision>, PolicyError> {
        let decisions = observe(&mut self.cells, cells, self.config.criterion, true)?;
        self.decisions += 1;
        let all = self.cells.iter().all(|s| s.is_done());
        self.controller.after_decision(epoch - self.warmup(), all)?;
        // With post_train <= 1 the last decision's epoch is already the last one.
        self.finished = self.controller.is_finished() && epoch + 1 >= self.epochs();
        Ok(decisions)
    }

    fn warmup(&self) -> usize {
        self.config.weight_warmup
    }

    /// `epoch` on the phases' clock, which starts after the warm-up; `None` during it.
    fn phase_clock(&self, epoch: usize) -> Option<usize> {
        epoch.checked_sub(self.warmup())
    }

    fn rule_factor(&self) -> f64 {
        match self.controller.mode() {
            crate::search::PhaseMode::PerPhase(c) => c.rule.factor,
            crate::search::PhaseMode::EarlyStopOnly(c) => c.rule.factor,
        }
    }
}

impl Policy for SgasEsPolicy {
    fn name(&self) -> &'static str {
        "SGAS-es"
    }

    fn needs_lambda(&self, epoch: usize) -> bool {
        self.phase_clock(epoch).is_some_and(|e| self.controller.needs_hessian(e))
    }

    fn trains_alpha(&self, epoch: usize) -> bool {
        self.phase_clock(epoch).is_some()
    }

    fn epochs(&self) -> usize {
        self.controller.epochs() + self.warmup()
    }

    fn batch_size(&self) -> usize {
        self.base_batch + self.config.batch_increase * self.decisions
    }

    fn phase(&self) -> usize {
        self.decisions
    }

    fn end_of_epoch(&mut self, epoch: usize, lambda: Option<f64>, cells: &[CellAlphas]) -> Result<Action, PolicyError> {
        let Some(clock) = self.phase_clock(epoch) else { return Ok(Action::Continue) };
        let lambda = if self.controller.needs_hessian(clock) { lambda } else { None };
        match self.controller.end_of_epoch(clock, lambda)? {
            PhaseAction::Continue => {
                observe(&mut self.cells, cells, self.config.criterion, false)?;
                Ok(Action::Continue)
            }
            PhaseAction::Decide { rollback_to, .. } if rollback_to != clock => {
                let rollback_to = rollback_to + self.warmup();
                let factor = self.rule_factor();
                let event = format!(
                    "early stop: λmax local average rose by > {factor}; rolled back to epoch {} and decided there",
                    rollback_to + 1
                );
                Ok(Action::Rollback { epoch: rollback_to, event })
            }
            PhaseAction::Decide { early, .. } => {
                let event = if early {
                    "early stop: decided at this epoch".to_string()
                } else {
                    format!("phase reached {} epochs: forced decision", self.config.frequency)
                };
                Ok(Action::Decided { decisions: self.decide_at(epoch, cells)?, event })
            }
            PhaseAction::Finished | PhaseAction::Stop { .. } => {
                self.finished = true;
                Ok(Action::Finish)
            }
        }
    }

    fn decide_after_rollback(&mut self, epoch: usize, cells: &[CellAlphas]) -> Result<Vec<CellDecision>, PolicyError> {
        self.decide_at(epoch, cells)
    }

    /// The SGAS history as it stood before the epoch's own distribution was added: a rollback
    /// to this epoch adds it again, then decides.
    fn snapshot(&self) -> Option<serde_json::Value> {
        Some(serde_json::to_value(&self.cells).expect("SGAS state serialises"))
    }

    fn restore_snapshot(&mut self, snapshot: serde_json::Value) -> Result<(), PolicyError> {
        self.cells = serde_json::from_value(snapshot).map_err(|e| PolicyError::BadSnapshot(e.to_string()))?;
        Ok(())
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

    fn policy(frequency: usize, post_train: usize, factor: f64) -> SgasEsPolicy {
        let cfg = SgasEsConfig {
            criterion: Criterion::Cri1,
            frequency,
            history: 4,
            batch_increase: 8,
            post_train,
            weight_warmup: 0,
        };
        let rule = LambdaRule { factor, ..LambdaRule::sgas_es() };
        SgasEsPolicy::new(&cfg, rule, &Nb201Space, 100, 32, 1).unwrap()
    }

    /// The loop's side of a rollback: restore the snapshot saved at `epoch`, then decide there.
    fn roll_back(p: &mut SgasEsPolicy, snapshots: &[serde_json::Value], epoch: usize) -> Vec<CellDecision> {
        p.restore_snapshot(snapshots[epoch].clone()).unwrap();
        p.decide_after_rollback(epoch, &nb201_alphas(2, 1.0)).unwrap()
    }

    #[test]
    fn a_rising_lambda_rolls_back_and_decides_at_the_stop_epoch() {
        // Window 3, delta 4, factor 1.3 from the phase's first epoch: flat λ for 5 epochs, then a
        // jump; at epoch 5 LA(4) = (1+1+3)/3 > 1.3 · LA(0) = 1.3, so the rule points to epoch 0.
        let mut p = policy(15, 2, 1.3);
        let cells = nb201_alphas(2, 1.0);
        let mut snaps = vec![];
        for (e, l) in [1.0, 1.0, 1.0, 1.0, 1.0].into_iter().enumerate() {
            snaps.push(p.snapshot().unwrap());
            assert!(p.needs_lambda(e));
            assert_eq!(p.end_of_epoch(e, Some(l), &cells).unwrap(), Action::Continue, "epoch {e}");
        }
        snaps.push(p.snapshot().unwrap());
        let a = p.end_of_epoch(5, Some(3.0), &cells).unwrap();
        let Action::Rollback { epoch: 0, event } = a else { panic!("{a:?}") };
        assert!(event.contains("rolled back to epoch 1 "), "epochs are 1-based in messages: {event}");
        assert_eq!(p.batch_size(), 32, "no decision yet");
        let d = roll_back(&mut p, &snaps, 0);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].decision.op, 2);
        assert_eq!((p.phase(), p.batch_size()), (1, 40), "batch grows by 8 per decision");
        // The next phase starts at epoch 1 with a fresh tracker.
        assert_eq!(p.end_of_epoch(1, Some(1.0), &cells).unwrap(), Action::Continue);
    }

    #[test]
    fn a_phase_that_reaches_its_length_decides_where_it_stands_then_post_trains() {
        // Phases of 2 epochs, flat λ (the rule never fires): a forced decision every 2nd epoch,
        // 6 NB201 edges, then 2 epochs of post-training without λ.
        let mut p = policy(2, 2, 1.3);
        let cells = nb201_alphas(4, 1.0);
        let mut forced = vec![];
        let mut e = 0;
        while !p.finished() {
            let lambda = p.needs_lambda(e).then_some(1.0);
            match p.end_of_epoch(e, lambda, &cells).unwrap() {
                Action::Decided { decisions, event } => {
                    assert!(event.contains("forced decision"), "{event}");
                    assert_eq!(decisions.len(), 1);
                    forced.push(e);
                }
                Action::Continue | Action::Finish => {}
                other => panic!("epoch {e}: {other:?}"),
            }
            e += 1;
            assert!(e < 50, "the policy never finished");
        }
        assert_eq!(forced, vec![1, 3, 5, 7, 9, 11]);
        assert_eq!(e, 13, "post-training: epoch 12 is the last (11 + 2 − 1)");
        assert!(!p.needs_lambda(12), "no λ after the last decision");
        let arch = p.architecture(&Nb201Space, &cells).unwrap().reference_string();
        assert_eq!(
            arch,
            "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
        );
    }

    #[test]
    fn a_weight_warmup_freezes_alpha_then_runs_the_phases_on_a_shifted_clock() {
        // The rising-λ case above, after 3 weights-only epochs: no α training and no λmax in
        // epochs 0-2, the rule first fires at epoch 3 + 5 and rolls back to epoch 3, never into
        // the warm-up; the epoch bound grows by the warm-up.
        let cfg = SgasEsConfig {
            criterion: Criterion::Cri1,
            frequency: 15,
            history: 4,
            batch_increase: 0,
            post_train: 2,
            weight_warmup: 3,
        };
        let rule = LambdaRule { factor: 1.3, ..LambdaRule::sgas_es() };
        let mut p = SgasEsPolicy::new(&cfg, rule, &Nb201Space, 100, 32, 1).unwrap();
        assert_eq!(p.epochs(), 100);
        let cells = nb201_alphas(2, 1.0);
        let mut snaps = vec![];
        for e in 0..3 {
            assert!(!p.trains_alpha(e) && !p.needs_lambda(e), "epoch {e} is warm-up");
            snaps.push(p.snapshot().unwrap());
            assert_eq!(p.end_of_epoch(e, None, &cells).unwrap(), Action::Continue);
        }
        for (e, l) in (3..8).zip([1.0, 1.0, 1.0, 1.0, 1.0]) {
            assert!(p.trains_alpha(e) && p.needs_lambda(e), "epoch {e} searches");
            snaps.push(p.snapshot().unwrap());
            assert_eq!(p.end_of_epoch(e, Some(l), &cells).unwrap(), Action::Continue, "epoch {e}");
        }
        snaps.push(p.snapshot().unwrap());
        let a = p.end_of_epoch(8, Some(3.0), &cells).unwrap();
        let Action::Rollback { epoch: 3, .. } = a else { panic!("{a:?}") };
        assert_eq!(roll_back(&mut p, &snaps, 3).len(), 1);
        assert_eq!(p.end_of_epoch(4, Some(1.0), &cells).unwrap(), Action::Continue, "phase 1 starts at epoch 4");
        let back: SgasEsPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        let long = SgasEsConfig { weight_warmup: 100, ..cfg };
        let err = SgasEsPolicy::new(&long, rule, &Nb201Space, 100, 32, 1).unwrap_err();
        assert!(err.to_string().contains("weight_warmup = 100"), "{err}");
    }

    #[test]
    fn state_round_trips_through_json_mid_phase() {
        let mut p = policy(15, 2, 1.3);
        let cells = nb201_alphas(2, 1.0);
        p.end_of_epoch(0, Some(1.0), &cells).unwrap();
        let back: SgasEsPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        // Through the enum a checkpoint stores, with the tracker's integer-keyed map filled.
        p.end_of_epoch(1, Some(1.0), &cells).unwrap();
        let any = super::super::AnyPolicy::SgasEs(p.clone());
        let back: super::super::AnyPolicy = serde_json::from_str(&serde_json::to_string(&any).unwrap()).unwrap();
        assert_eq!(back, any);
        let bad = p.restore_snapshot(serde_json::json!({"not": "a state"})).unwrap_err();
        assert!(bad.to_string().contains("rollback state"), "{bad}");
    }
}
