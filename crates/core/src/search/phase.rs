//! When to decide an edge, and which epoch to roll back to: the SGAS-es phase controller and the
//! single-tracker DARTS-ES rule (docs/algorithms.md, "SGAS-es" and "DARTS-ES"), as a pure state
//! machine that the decision policies call once at the end of every epoch.
//!
//! SGAS-es splits the search into phases, one edge decision (per cell) each. Within a phase λmax is
//! tracked with [`LocalAverage`]; when the early-stop rule fires the loop rolls back to the stop
//! epoch's checkpoint and decides there, otherwise it decides when the phase reaches its maximum
//! length. After the last decision the supernet trains for a few more epochs without Hessians.
//!
//! Loop protocol: for `e = next_epoch()` while `e < epochs()`:
//! 1. train; if `needs_hessian(e)`, compute λmax of the undecided α;
//! 2. write the epoch's checkpoint (the reference checkpoints every epoch, before deciding, so the
//!    SGAS state in it must not yet hold epoch `e`'s distribution);
//! 3. `end_of_epoch(e, λ)`; on [`PhaseAction::Decide`] load the checkpoint of `rollback_to` (but
//!    keep this controller as it is), decide one edge per cell there, then call
//!    `after_decision(rollback_to, all_decided)`; training resumes at `rollback_to + 1`.
//!
//! Save the controller after `end_of_epoch`; a resumed controller with
//! [`PhaseController::pending_decision`] set still owes the rollback and decision.

use super::early_stop::{EarlyStopError, LambdaRule, LocalAverage};

/// Why the controller refused a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhaseError {
    #[error(transparent)]
    Tracker(#[from] EarlyStopError),
    #[error("decision_freq (the maximum phase length) must be at least 1")]
    ZeroDecisionFreq,
    #[error("early-stop factor must be a finite number, got {factor}")]
    BadFactor { factor: f64 },
    #[error("total_epochs must be at least 1")]
    ZeroEpochs,
    #[error(
        "end_of_epoch({got}) but the next epoch is {expected}; after a rollback to epoch r, \
         training resumes at r + 1"
    )]
    EpochOutOfOrder { expected: usize, got: usize },
    #[error(
        "end_of_epoch({epoch}) while the decision at epoch {stop_epoch} is pending; roll back, \
         decide, and call after_decision({stop_epoch}, ..) first"
    )]
    DecisionPending { epoch: usize, stop_epoch: usize },
    #[error("after_decision({got}) but no decision is pending")]
    NoDecisionPending { got: usize },
    #[error("after_decision({got}) but the pending decision is at epoch {expected}")]
    WrongStopEpoch { expected: usize, got: usize },
    #[error("epoch {epoch} needs λmax (a Hessian epoch) but none was given")]
    MissingLambda { epoch: usize },
    #[error(
        "λmax given for epoch {epoch}, which is not a Hessian epoch (see needs_hessian); the \
         reference would not have computed it"
    )]
    UnexpectedLambda { epoch: usize },
    #[error("the search already ended (at epoch {last}); no more epochs to report")]
    AlreadyFinished { last: usize },
}

/// SGAS-es settings (Tommy787576/SGAS-es `train_search.py` defaults).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PhaseConfig {
    /// Maximum phase length in λmax evaluations (15).
    pub decision_freq: usize,
    /// The λmax rule; its `start_epoch` counts from each phase's first epoch (0; "original is 5").
    pub rule: LambdaRule,
    /// λmax every `ev_freq` epochs (`report_freq_hessian`, 1).
    pub ev_freq: usize,
    /// Epochs after the last decision: training ends at epoch `last_decision + post_train − 1`.
    pub post_train: usize,
    /// Planned length T = (start_epoch + decision_freq)·decisions + post_train (125 for DARTS
    /// cells, 95 for NAS-Bench-201), also the cosine T_max. Training stops here if edges remain.
    pub total_epochs: usize,
}

impl PhaseConfig {
    /// The SGAS-es defaults for a cell needing `num_decisions` decisions (8 for a 4-step DARTS
    /// cell, 6 for NAS-Bench-201).
    pub fn sgas_es(num_decisions: usize) -> Self {
        let mut c =
            PhaseConfig { decision_freq: 15, rule: LambdaRule::sgas_es(), ev_freq: 1, post_train: 5, total_epochs: 0 };
        c.total_epochs = c.planned_epochs(num_decisions);
        c
    }

    /// (start_epoch + decision_freq)·num_decisions + post_train, the reference's `epochs`.
    pub fn planned_epochs(&self, num_decisions: usize) -> usize {
        (self.rule.start_epoch + self.decision_freq) * num_decisions + self.post_train
    }

    fn validate(&self) -> Result<(), PhaseError> {
        if self.decision_freq == 0 {
            return Err(PhaseError::ZeroDecisionFreq);
        }
        check_common(&self.rule, self.ev_freq, self.total_epochs)
    }
}

/// DARTS-ES settings (RobustDARTS `early_stop = 1`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DartsEsConfig {
    pub rule: LambdaRule,
    pub ev_freq: usize,
    pub total_epochs: usize,
}

impl DartsEsConfig {
    /// RobustDARTS: window 5, λmax every 2 epochs, factor 1.3, start epoch 10, delta 4.
    pub fn robust_darts(total_epochs: usize) -> Self {
        DartsEsConfig { rule: LambdaRule::robust_darts(), ev_freq: 2, total_epochs }
    }

    fn validate(&self) -> Result<(), PhaseError> {
        check_common(&self.rule, self.ev_freq, self.total_epochs)
    }
}

fn check_common(rule: &LambdaRule, ev_freq: usize, total: usize) -> Result<(), PhaseError> {
    LocalAverage::new(rule.window, ev_freq, total)?;
    if !rule.factor.is_finite() {
        return Err(PhaseError::BadFactor { factor: rule.factor });
    }
    if total == 0 {
        return Err(PhaseError::ZeroEpochs);
    }
    Ok(())
}

/// Which stopping scheme the controller runs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PhaseMode {
    /// SGAS-es: a tracker per phase, one decision per phase.
    PerPhase(PhaseConfig),
    /// DARTS-ES: one tracker over the whole run; the search ends at the first stop.
    EarlyStopOnly(DartsEsConfig),
}

/// What the loop does after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PhaseAction {
    /// Train the next epoch.
    Continue,
    /// Load the checkpoint of `rollback_to`, decide one edge per cell there, then call
    /// [`PhaseController::after_decision`]. `early`: the λmax rule fired (otherwise the phase hit
    /// its maximum length and `rollback_to` is the current epoch when `ev_freq` is 1).
    Decide { rollback_to: usize, early: bool },
    /// DARTS-ES: the search ends; the result is the architecture of `stop_epoch`'s checkpoint.
    Stop { stop_epoch: usize },
    /// That was the last epoch.
    Finished,
}

/// The SGAS-es / DARTS-ES state machine; part of every search checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RawController")]
pub struct PhaseController {
    mode: PhaseMode,
    tracker: LocalAverage,
    /// First epoch of the current phase (the reference's `new_start_epoch`).
    phase_start: usize,
    /// Loop bound: T until the last decision, then last decision + post_train.
    epochs: usize,
    next_epoch: usize,
    pending: Option<usize>,
    /// All edges decided (SGAS-es) or stopped (DARTS-ES).
    finished: bool,
    decisions: usize,
    /// Set once no further epoch may be reported.
    ended_at: Option<usize>,
}

#[derive(serde::Deserialize)]
struct RawController {
    mode: PhaseMode,
    tracker: LocalAverage,
    phase_start: usize,
    epochs: usize,
    next_epoch: usize,
    pending: Option<usize>,
    finished: bool,
    decisions: usize,
    ended_at: Option<usize>,
}

impl TryFrom<RawController> for PhaseController {
    type Error = PhaseError;

    fn try_from(r: RawController) -> Result<Self, Self::Error> {
        match &r.mode {
            PhaseMode::PerPhase(c) => c.validate()?,
            PhaseMode::EarlyStopOnly(c) => c.validate()?,
        }
        Ok(PhaseController {
            mode: r.mode,
            tracker: r.tracker,
            phase_start: r.phase_start,
            epochs: r.epochs,
            next_epoch: r.next_epoch,
            pending: r.pending,
            finished: r.finished,
            decisions: r.decisions,
            ended_at: r.ended_at,
        })
    }
}

impl PhaseController {
    /// SGAS-es, starting at epoch 0.
    pub fn new(config: PhaseConfig) -> Result<Self, PhaseError> {
        config.validate()?;
        let tracker = LocalAverage::new(config.rule.window, config.ev_freq, config.total_epochs)?;
        Ok(Self::with(PhaseMode::PerPhase(config), tracker, config.total_epochs))
    }

    /// DARTS-ES, starting at epoch 0.
    pub fn early_stop_only(config: DartsEsConfig) -> Result<Self, PhaseError> {
        config.validate()?;
        let tracker = LocalAverage::new(config.rule.window, config.ev_freq, config.total_epochs)?;
        Ok(Self::with(PhaseMode::EarlyStopOnly(config), tracker, config.total_epochs))
    }

    fn with(mode: PhaseMode, tracker: LocalAverage, epochs: usize) -> Self {
        PhaseController {
            mode,
            tracker,
            phase_start: 0,
            epochs,
            next_epoch: 0,
            pending: None,
            finished: false,
            decisions: 0,
            ended_at: None,
        }
    }

    pub fn mode(&self) -> &PhaseMode {
        &self.mode
    }

    /// The loop runs while `epoch < epochs()`: T, or after the last decision `d`, `d + post_train`.
    pub fn epochs(&self) -> usize {
        self.epochs
    }

    /// The epoch `end_of_epoch` expects next.
    pub fn next_epoch(&self) -> usize {
        self.next_epoch
    }

    pub fn phase_start(&self) -> usize {
        self.phase_start
    }

    /// Decisions completed (each one decides an edge in every cell).
    pub fn decisions(&self) -> usize {
        self.decisions
    }

    /// The stop epoch of a `Decide` not yet followed by `after_decision` (e.g. after a resume).
    pub fn pending_decision(&self) -> Option<usize> {
        self.pending
    }

    /// SGAS-es: every edge decided (post-training); DARTS-ES: stopped.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    pub fn tracker(&self) -> &LocalAverage {
        &self.tracker
    }

    /// Whether the loop must compute λmax at the end of `epoch`. SGAS-es: every `ev_freq`-th
    /// epoch (counted from 0, not from the phase start) until all edges are decided. DARTS-ES:
    /// every `ev_freq`-th epoch and the last one, until stopped.
    pub fn needs_hessian(&self, epoch: usize) -> bool {
        if self.finished {
            return false;
        }
        match &self.mode {
            PhaseMode::PerPhase(c) => epoch.is_multiple_of(c.ev_freq),
            PhaseMode::EarlyStopOnly(c) => epoch.is_multiple_of(c.ev_freq) || epoch + 1 == c.total_epochs,
        }
    }

    /// Reports the end of `epoch` with its λmax (exactly when [`PhaseController::needs_hessian`]).
    pub fn end_of_epoch(&mut self, epoch: usize, lambda_max: Option<f64>) -> Result<PhaseAction, PhaseError> {
        if let Some(last) = self.ended_at {
            return Err(PhaseError::AlreadyFinished { last });
        }
        if let Some(stop_epoch) = self.pending {
            return Err(PhaseError::DecisionPending { epoch, stop_epoch });
        }
        if epoch != self.next_epoch {
            return Err(PhaseError::EpochOutOfOrder { expected: self.next_epoch, got: epoch });
        }
        let lambda = match (self.needs_hessian(epoch), lambda_max) {
            (true, Some(l)) => Some(l),
            (false, None) => None,
            (true, None) => return Err(PhaseError::MissingLambda { epoch }),
            (false, Some(_)) => return Err(PhaseError::UnexpectedLambda { epoch }),
        };
        self.next_epoch = epoch + 1;
        let last_epoch = epoch + 1 >= self.epochs;
        let action = match self.mode {
            PhaseMode::PerPhase(c) => self.per_phase(c, epoch, lambda, last_epoch),
            PhaseMode::EarlyStopOnly(c) => self.early_stop_only_step(c, epoch, lambda, last_epoch),
        };
        match action {
            PhaseAction::Decide { rollback_to, .. } => self.pending = Some(rollback_to),
            PhaseAction::Stop { .. } | PhaseAction::Finished => self.ended_at = Some(epoch),
            PhaseAction::Continue => {}
        }
        Ok(action)
    }

    fn per_phase(&mut self, c: PhaseConfig, epoch: usize, lambda: Option<f64>, last_epoch: bool) -> PhaseAction {
        if self.finished {
            return if last_epoch { PhaseAction::Finished } else { PhaseAction::Continue };
        }
        let mut stop = None;
        if let Some(l) = lambda {
            self.tracker.update(epoch, l);
            // The reference skips the check at the last planned epoch (`epoch != tol_epochs − 1`).
            if !last_epoch {
                stop = self.tracker.check(epoch, c.rule.factor, self.phase_start + c.rule.start_epoch, c.rule.delta);
            }
        }
        if let Some(stop_epoch) = stop {
            return PhaseAction::Decide { rollback_to: stop_epoch, early: true };
        }
        let into_phase = epoch as i64 - (self.phase_start + c.rule.start_epoch) as i64;
        if into_phase >= (c.decision_freq * c.ev_freq) as i64 - 1 {
            // The reference sets the forced stop epoch to start + start_epoch + decision_freq − 1,
            // without the ev_freq factor its trigger uses. With ev_freq 1 (SGAS-es) that is the
            // current epoch, so nothing is rolled back; with ev_freq > 1 it rolls back to the
            // middle of the phase. Kept as the reference does it.
            return PhaseAction::Decide {
                rollback_to: self.phase_start + c.rule.start_epoch + c.decision_freq - 1,
                early: false,
            };
        }
        if last_epoch {
            PhaseAction::Finished
        } else {
            PhaseAction::Continue
        }
    }

    fn early_stop_only_step(
        &mut self,
        c: DartsEsConfig,
        epoch: usize,
        lambda: Option<f64>,
        last_epoch: bool,
    ) -> PhaseAction {
        if let Some(l) = lambda {
            self.tracker.update(epoch, l);
            if !last_epoch {
                if let Some(stop_epoch) = self.tracker.check_rule(epoch, &c.rule) {
                    self.finished = true;
                    return PhaseAction::Stop { stop_epoch };
                }
            }
        }
        if last_epoch {
            self.finished = true;
            PhaseAction::Finished
        } else {
            PhaseAction::Continue
        }
    }

    /// Reports that the loop rolled back to `stop_epoch` and decided there. Starts a new phase
    /// (fresh tracker, start `stop_epoch + 1`); once `all_decided`, the search trains on to epoch
    /// `stop_epoch + post_train − 1` without Hessians (the reference sets its loop bound to
    /// `stop_epoch + post_train`).
    pub fn after_decision(&mut self, stop_epoch: usize, all_decided: bool) -> Result<(), PhaseError> {
        let expected = self.pending.ok_or(PhaseError::NoDecisionPending { got: stop_epoch })?;
        if expected != stop_epoch {
            return Err(PhaseError::WrongStopEpoch { expected, got: stop_epoch });
        }
        let PhaseMode::PerPhase(c) = self.mode else {
            // Only PerPhase produces Decide, so a pending decision implies this mode.
            return Err(PhaseError::NoDecisionPending { got: stop_epoch });
        };
        // The reference builds a new tracker (with the original T) rather than calling reset().
        self.tracker = LocalAverage::new(c.rule.window, c.ev_freq, c.total_epochs)?;
        self.pending = None;
        self.decisions += 1;
        self.phase_start = stop_epoch + 1;
        self.next_epoch = stop_epoch + 1;
        if all_decided {
            self.finished = true;
            self.epochs = stop_epoch + c.post_train;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Trace = Vec<(usize, PhaseAction)>;

    /// Runs the loop protocol with λ(epoch, decisions so far) until the controller finishes or
    /// `max_calls` epochs were reported; a phase's decision completes the cell after
    /// `num_decisions` decisions.
    fn drive(
        c: &mut PhaseController,
        lambda: &dyn Fn(usize, usize) -> f64,
        num_decisions: usize,
        max_calls: usize,
    ) -> Trace {
        let mut trace = Vec::new();
        let mut calls = 0;
        while c.next_epoch() < c.epochs() && calls < max_calls {
            let e = c.next_epoch();
            let l = c.needs_hessian(e).then(|| lambda(e, c.decisions()));
            let action = c.end_of_epoch(e, l).unwrap();
            calls += 1;
            trace.push((e, action));
            match action {
                PhaseAction::Decide { rollback_to, .. } => {
                    let done = c.decisions() + 1 == num_decisions;
                    c.after_decision(rollback_to, done).unwrap();
                }
                PhaseAction::Stop { .. } | PhaseAction::Finished => break,
                PhaseAction::Continue => {}
            }
        }
        trace
    }

    fn decisions_of(trace: &Trace) -> Vec<(usize, usize, bool)> {
        trace
            .iter()
            .filter_map(|&(e, a)| match a {
                PhaseAction::Decide { rollback_to, early } => Some((e, rollback_to, early)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sgas_es_defaults() {
        let c = PhaseConfig::sgas_es(8);
        assert_eq!(c.total_epochs, 125);
        assert_eq!(PhaseConfig::sgas_es(6).total_epochs, 95);
        let ctl = PhaseController::new(c).unwrap();
        assert_eq!(ctl.epochs(), 125);
        assert!(ctl.needs_hessian(0) && ctl.needs_hessian(7));
    }

    #[test]
    fn flat_lambda_forces_a_decision_every_15_epochs_then_post_trains() {
        let mut c = PhaseController::new(PhaseConfig::sgas_es(8)).unwrap();
        let trace = drive(&mut c, &|_, _| 1.0, 8, 1000);
        // Phase k covers epochs 15k..=15k+14; (e − s) ≥ 14 forces a decision at e = s + 14 with
        // stop_epoch = s + 0 + 15 − 1 = e (no rollback).
        let expected: Vec<(usize, usize, bool)> = (0..8).map(|k| (15 * k + 14, 15 * k + 14, false)).collect();
        assert_eq!(decisions_of(&trace), expected);
        // Last decision at 119 ⇒ epochs = 119 + 5 = 124: epochs 120..=123 train without Hessians,
        // 123 is the last.
        assert_eq!(c.epochs(), 124);
        assert!(c.is_finished());
        let tail: Vec<(usize, PhaseAction)> = trace[trace.len() - 4..].to_vec();
        assert_eq!(
            tail,
            vec![
                (120, PhaseAction::Continue),
                (121, PhaseAction::Continue),
                (122, PhaseAction::Continue),
                (123, PhaseAction::Finished)
            ]
        );
        assert!(!c.needs_hessian(120));
        assert_eq!(trace.len(), 124);
        assert_eq!(c.end_of_epoch(124, None), Err(PhaseError::AlreadyFinished { last: 123 }));
    }

    #[test]
    fn early_stop_rolls_back_and_the_next_phase_starts_after_the_stop_epoch() {
        let mut c = PhaseController::new(PhaseConfig::sgas_es(8)).unwrap();
        // Phase 0: λ 1,1,1,1,1,1,2 ⇒ at e = 6, LA(5) = 4/3 vs LA(1) = 1 ⇒ roll back to 1.
        for e in 0..6 {
            assert_eq!(c.end_of_epoch(e, Some(1.0)), Ok(PhaseAction::Continue));
        }
        assert_eq!(c.end_of_epoch(6, Some(2.0)), Ok(PhaseAction::Decide { rollback_to: 1, early: true }));
        assert_eq!(c.end_of_epoch(7, Some(1.0)), Err(PhaseError::DecisionPending { epoch: 7, stop_epoch: 1 }));
        assert_eq!(c.after_decision(6, false), Err(PhaseError::WrongStopEpoch { expected: 1, got: 6 }));
        c.after_decision(1, false).unwrap();
        assert_eq!((c.phase_start(), c.next_epoch(), c.decisions()), (2, 2, 1));
        assert_eq!(c.end_of_epoch(7, Some(1.0)), Err(PhaseError::EpochOutOfOrder { expected: 2, got: 7 }));
        // Phase 1 from s = 2 with a fresh tracker: checks start when la_epoch − 4 ≥ 2, i.e. e = 7.
        // λ = 1 on 2..=8, 2 at 9 ⇒ LA(8) = 4/3 vs LA(4) = 1 ⇒ roll back to 4.
        for e in 2..9 {
            assert_eq!(c.end_of_epoch(e, Some(1.0)), Ok(PhaseAction::Continue));
        }
        assert_eq!(c.end_of_epoch(9, Some(2.0)), Ok(PhaseAction::Decide { rollback_to: 4, early: true }));
        c.after_decision(4, false).unwrap();
        assert_eq!(c.phase_start(), 5);
        // Phase 2 from 5, flat ⇒ forced at 5 + 14 = 19.
        let trace = drive(&mut c, &|_, _| 1.0, 8, 15);
        assert_eq!(decisions_of(&trace), vec![(19, 19, false)]);
    }

    #[test]
    fn early_stop_wins_over_a_forced_decision_in_the_same_epoch() {
        let mut c = PhaseController::new(PhaseConfig::sgas_es(8)).unwrap();
        for e in 0..14 {
            assert_eq!(c.end_of_epoch(e, Some(1.0)), Ok(PhaseAction::Continue));
        }
        // e = 14 is the forced epoch, but LA(13) = 4/3 vs LA(9) = 1 fires first ⇒ back to 9.
        assert_eq!(c.end_of_epoch(14, Some(2.0)), Ok(PhaseAction::Decide { rollback_to: 9, early: true }));
    }

    #[test]
    fn es_start_delays_the_look_back() {
        let mut cfg = PhaseConfig::sgas_es(8);
        cfg.rule.start_epoch = 5;
        let mut c = PhaseController::new(cfg).unwrap();
        // Check active from la_epoch − 4 ≥ 5, i.e. e ≥ 10, so the jump at 6 is never acted on
        // (by e = 10 it has left the window: LA(9) = 1, LA(5) = 4/3, ratio < 1); forced at
        // e − 0 − 5 ≥ 14 ⇒ e = 19, stop_epoch = 0 + 5 + 14 = 19.
        let trace = drive(&mut c, &|e, _| if e == 6 { 2.0 } else { 1.0 }, 8, 20);
        assert_eq!(decisions_of(&trace), vec![(19, 19, false)]);
    }

    #[test]
    fn hessian_every_other_epoch_keeps_the_reference_forced_stop_epoch() {
        let mut cfg = PhaseConfig::sgas_es(8);
        cfg.ev_freq = 2;
        let mut c = PhaseController::new(cfg).unwrap();
        assert!(c.needs_hessian(0) && !c.needs_hessian(1));
        assert_eq!(c.end_of_epoch(0, None), Err(PhaseError::MissingLambda { epoch: 0 }));
        assert_eq!(c.end_of_epoch(1, Some(1.0)), Err(PhaseError::EpochOutOfOrder { expected: 0, got: 1 }));
        // Trigger (e − s) ≥ 15·2 − 1 = 29, stop epoch s + 15 − 1 = 14: the reference quirk.
        let trace = drive(&mut c, &|_, _| 1.0, 8, 30);
        assert_eq!(decisions_of(&trace), vec![(29, 14, false)]);
        // λ at an odd epoch is refused.
        let e = c.next_epoch();
        assert_eq!(e, 15);
        assert_eq!(c.end_of_epoch(e, Some(1.0)), Err(PhaseError::UnexpectedLambda { epoch: 15 }));
    }

    #[test]
    fn post_train_tail_has_no_hessians_and_rejects_lambda() {
        let mut cfg = PhaseConfig::sgas_es(1);
        assert_eq!(cfg.total_epochs, 20);
        cfg.post_train = 3;
        cfg.total_epochs = 18;
        let mut c = PhaseController::new(cfg).unwrap();
        let trace = drive(&mut c, &|e, _| if e == 6 { 2.0 } else { 1.0 }, 1, 100);
        // Early stop at e = 6 ⇒ back to 1 and the only decision ⇒ epochs = 1 + 3 = 4: epochs 2, 3.
        assert_eq!(
            trace[trace.len() - 3..],
            [
                (6, PhaseAction::Decide { rollback_to: 1, early: true }),
                (2, PhaseAction::Continue),
                (3, PhaseAction::Finished)
            ]
        );
        assert_eq!(c.epochs(), 4);
    }

    #[test]
    fn running_out_of_planned_epochs_finishes_without_deciding() {
        // T = 10 < one full phase: no check at T − 1 = 9 and no forced decision ⇒ Finished.
        let mut cfg = PhaseConfig::sgas_es(8);
        cfg.total_epochs = 10;
        let mut c = PhaseController::new(cfg).unwrap();
        // A jump at the last epoch is not acted on (the reference skips the check there).
        let trace = drive(&mut c, &|e, _| if e == 9 { 100.0 } else { 1.0 }, 8, 100);
        assert_eq!(trace.len(), 10);
        assert_eq!(trace[9], (9, PhaseAction::Finished));
        assert_eq!(c.decisions(), 0);
        assert!(!c.is_finished());
    }

    #[test]
    fn serde_round_trip_mid_run_gives_identical_actions() {
        // λ depends on the epoch and on how many decisions were made, so phases differ; in even
        // phases spikes every 11 epochs trigger early stops with rollbacks, odd phases are flat
        // and end in forced decisions.
        let lambda = |e: usize, d: usize| -> f64 {
            let base = 1.0 + 0.01 * d as f64;
            if d.is_multiple_of(2) && (e + d) % 11 == 10 {
                base * 3.0
            } else {
                base
            }
        };
        let mut whole = PhaseController::new(PhaseConfig::sgas_es(8)).unwrap();
        let full = drive(&mut whole, &lambda, 8, 1000);
        assert!(decisions_of(&full).iter().any(|d| d.2), "needs an early stop");
        assert!(decisions_of(&full).iter().any(|d| !d.2), "needs a forced stop");
        assert_eq!(decisions_of(&full).len(), 8);
        for cut in [5, 17, 23, 60] {
            let mut first = PhaseController::new(PhaseConfig::sgas_es(8)).unwrap();
            let mut trace = drive(&mut first, &lambda, 8, cut);
            let json = serde_json::to_string(&first).unwrap();
            let mut resumed: PhaseController = serde_json::from_str(&json).unwrap();
            assert_eq!(resumed, first);
            trace.extend(drive(&mut resumed, &lambda, 8, 1000));
            assert_eq!(trace, full, "cut after {cut} epochs");
            assert_eq!(resumed, whole);
        }
    }

    #[test]
    fn darts_es_stops_once_with_the_robust_darts_rule() {
        let mut c = PhaseController::early_stop_only(DartsEsConfig::robust_darts(50)).unwrap();
        assert!(c.needs_hessian(0) && !c.needs_hessian(1) && c.needs_hessian(49));
        // λ = 1 at even epochs ≤ 28, 3 at 30 ⇒ LA(26)/LA(18) = 1.4 ⇒ Stop{18} at e = 30.
        let trace = drive(&mut c, &|e, _| if e >= 30 { 3.0 } else { 1.0 }, 0, 100);
        assert_eq!(trace.last(), Some(&(30, PhaseAction::Stop { stop_epoch: 18 })));
        assert_eq!(trace.len(), 31);
        assert!(c.is_finished() && !c.needs_hessian(32));
        assert_eq!(c.end_of_epoch(31, None), Err(PhaseError::AlreadyFinished { last: 30 }));
        // Flat: runs to the last epoch, which gets a Hessian but no check.
        let mut c = PhaseController::early_stop_only(DartsEsConfig::robust_darts(50)).unwrap();
        let trace = drive(&mut c, &|e, _| if e == 49 { 9.0 } else { 1.0 }, 0, 100);
        assert_eq!(trace.len(), 50);
        assert_eq!(trace[49], (49, PhaseAction::Finished));
        assert_eq!(c.tracker().eigenvalues().len(), 26);
    }

    #[test]
    fn invalid_configs_and_states_are_refused() {
        let mut cfg = PhaseConfig::sgas_es(8);
        cfg.decision_freq = 0;
        assert_eq!(PhaseController::new(cfg).unwrap_err(), PhaseError::ZeroDecisionFreq);
        let mut cfg = PhaseConfig::sgas_es(8);
        cfg.rule.factor = f64::NAN;
        assert!(matches!(PhaseController::new(cfg), Err(PhaseError::BadFactor { .. })));
        let mut cfg = PhaseConfig::sgas_es(8);
        cfg.rule.window = 0;
        assert_eq!(PhaseController::new(cfg).unwrap_err(), PhaseError::Tracker(EarlyStopError::ZeroWindow));
        let mut c = PhaseController::new(PhaseConfig::sgas_es(8)).unwrap();
        assert_eq!(c.after_decision(3, false), Err(PhaseError::NoDecisionPending { got: 3 }));
        let json = serde_json::to_string(&c).unwrap();
        let bad = json.replace("\"decision_freq\":15", "\"decision_freq\":0");
        assert!(serde_json::from_str::<PhaseController>(&bad).unwrap_err().to_string().contains("decision_freq"));
    }
}
