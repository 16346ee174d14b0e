//! Decision policies: what a differentiable search does at the end of each epoch, without any
//! tensors. The search loop owns the mechanics (train, evaluate, probe λmax, checkpoint, restore,
//! log); a policy owns the decisions and their state, and is the one place that says
//!
//! - whether λmax is needed at the end of an epoch ([`Policy::needs_lambda`]),
//! - what to do after it ([`Action`]): go on, fix edges now, roll back to an earlier epoch and fix
//!   edges there, stop with an earlier epoch's architecture, or finish,
//! - the batch size, the epoch bound, and the architecture as it stands.
//!
//! Three policies: [`ArgmaxPolicy`] (DARTS, with the optional DARTS-ES rule), [`SgasPolicy`]
//! (SGAS criteria 1 and 2 on a fixed schedule) and [`SgasEsPolicy`] (SGAS-es: λmax-driven phases
//! with rollback). [`AnyPolicy`] holds one of them and is what a checkpoint stores.

mod argmax;
mod sgas;
mod sgas_es;

pub use argmax::ArgmaxPolicy;
pub use sgas::SgasPolicy;
pub use sgas_es::SgasEsPolicy;

use super::{EdgeDecision, PhaseError, SgasCellState, SgasError};
use crate::arch::Architecture;
use crate::config::{DecisionConfig, SearchConfig};
use crate::space::{CellAlphas, SearchSpace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("SGAS: {0}")]
    Sgas(#[from] SgasError),
    #[error("phase controller: {0}")]
    Phase(#[from] PhaseError),
    #[error("deriving the architecture: {0}")]
    Derive(#[from] super::DeriveError),
    #[error("{policy} needs an [early_stop] section (the λmax rule: window, delta, factor, start_epoch)")]
    MissingRule { policy: &'static str },
    #[error("{policy} has no rollback state to restore; the epoch checkpoint was written by another policy")]
    NoSnapshot { policy: &'static str },
    #[error("rollback state of epoch checkpoint: {0}")]
    BadSnapshot(String),
    #[error("decision.weight_warmup = {warmup} leaves no epoch to search in optim.epochs = {epochs}; lower it or raise optim.epochs")]
    WarmupTooLong { warmup: usize, epochs: usize },
}

/// One edge fixed in one cell type (`cell` indexes [`SearchSpace::cell_names`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDecision {
    pub cell: usize,
    pub decision: EdgeDecision,
}

/// What the loop does after an epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Train the next epoch.
    Continue,
    /// Edges were fixed at this epoch; apply them to the supernet.
    Decided { decisions: Vec<CellDecision>, event: String },
    /// Restore the checkpoint of `epoch` (weights, α, optimisers, and this policy's snapshot via
    /// [`Policy::restore_snapshot`]), then call [`Policy::decide_after_rollback`] with α there.
    /// Training resumes at `epoch + 1`.
    Rollback { epoch: usize, event: String },
    /// The search ends; the result is the architecture of `arch_epoch` (DARTS-ES).
    Stop { arch_epoch: usize, event: String },
    /// That was the last epoch.
    Finish,
}

pub trait Policy {
    /// The policy's name in messages.
    fn name(&self) -> &'static str;

    /// Whether the loop must compute λmax at the end of `epoch`.
    fn needs_lambda(&self, epoch: usize) -> bool;

    /// Whether `epoch` trains α (false during a weights-only warm-up).
    fn trains_alpha(&self, _epoch: usize) -> bool {
        true
    }

    /// The loop runs epochs `0..epochs()` (a bound that may shrink once everything is decided).
    fn epochs(&self) -> usize;

    /// The batch size of the next epoch.
    fn batch_size(&self) -> usize;

    /// Decisions made so far (the phase an epoch belongs to).
    fn phase(&self) -> usize;

    /// Reports the end of `epoch`: its λmax (exactly when [`Policy::needs_lambda`] said so and
    /// undecided α remain) and α of every cell type.
    fn end_of_epoch(&mut self, epoch: usize, lambda: Option<f64>, cells: &[CellAlphas]) -> Result<Action, PolicyError>;

    /// After an [`Action::Rollback`] to `epoch`: decide there from α of that epoch. Only policies
    /// that roll back implement it.
    fn decide_after_rollback(
        &mut self,
        _epoch: usize,
        _cells: &[CellAlphas],
    ) -> Result<Vec<CellDecision>, PolicyError> {
        Err(PolicyError::NoSnapshot { policy: self.name() })
    }

    /// The state an epoch checkpoint must keep so that a rollback to it can decide there; `None`
    /// for policies that never roll back (then no epoch checkpoints are written).
    fn snapshot(&self) -> Option<serde_json::Value> {
        None
    }

    fn restore_snapshot(&mut self, _snapshot: serde_json::Value) -> Result<(), PolicyError> {
        Err(PolicyError::NoSnapshot { policy: self.name() })
    }

    /// True once no further epoch is to be run.
    fn finished(&self) -> bool;

    /// The epoch whose α give the result, when it is not the last one (DARTS-ES).
    fn result_epoch(&self) -> Option<usize> {
        None
    }

    /// The architecture for α `cells`, given the decisions so far.
    fn architecture(&self, space: &dyn SearchSpace, cells: &[CellAlphas]) -> Result<Architecture, PolicyError>;
}

/// One of the policies; what a search checkpoint stores. Externally tagged (`{"sgas-es": {…}}`):
/// serde buffers internally tagged content, which loses the integer map keys of the λmax tracker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnyPolicy {
    Argmax(ArgmaxPolicy),
    Sgas(SgasPolicy),
    SgasEs(SgasEsPolicy),
}

impl AnyPolicy {
    /// The policy a search config asks for, at epoch 0.
    pub fn new(cfg: &SearchConfig, space: &dyn SearchSpace) -> Result<Self, PolicyError> {
        let every = cfg.hessian.every();
        let (epochs, batch) = (cfg.optim.epochs, cfg.optim.batch_size);
        Ok(match &cfg.decision {
            DecisionConfig::Argmax(_) => AnyPolicy::Argmax(ArgmaxPolicy::new(epochs, batch, every, cfg.early_stop)?),
            DecisionConfig::Sgas(d) => AnyPolicy::Sgas(SgasPolicy::new(d, space, epochs, batch, every)?),
            DecisionConfig::SgasEs(d) => {
                let rule = cfg.early_stop.ok_or(PolicyError::MissingRule { policy: "SGAS-es" })?;
                AnyPolicy::SgasEs(SgasEsPolicy::new(d, rule, space, epochs, batch, every.unwrap_or(1))?)
            }
        })
    }

    fn inner(&self) -> &dyn Policy {
        match self {
            AnyPolicy::Argmax(p) => p,
            AnyPolicy::Sgas(p) => p,
            AnyPolicy::SgasEs(p) => p,
        }
    }

    fn inner_mut(&mut self) -> &mut dyn Policy {
        match self {
            AnyPolicy::Argmax(p) => p,
            AnyPolicy::Sgas(p) => p,
            AnyPolicy::SgasEs(p) => p,
        }
    }
}

impl Policy for AnyPolicy {
    fn name(&self) -> &'static str {
        self.inner().name()
    }
    fn needs_lambda(&self, epoch: usize) -> bool {
        self.inner().needs_lambda(epoch)
    }
    fn trains_alpha(&self, epoch: usize) -> bool {
        self.inner().trains_alpha(epoch)
    }
    fn epochs(&self) -> usize {
        self.inner().epochs()
    }
    fn batch_size(&self) -> usize {
        self.inner().batch_size()
    }
    fn phase(&self) -> usize {
        self.inner().phase()
    }
    fn end_of_epoch(&mut self, epoch: usize, lambda: Option<f64>, cells: &[CellAlphas]) -> Result<Action, PolicyError> {
        self.inner_mut().end_of_epoch(epoch, lambda, cells)
    }
    fn decide_after_rollback(&mut self, epoch: usize, cells: &[CellAlphas]) -> Result<Vec<CellDecision>, PolicyError> {
        self.inner_mut().decide_after_rollback(epoch, cells)
    }
    fn snapshot(&self) -> Option<serde_json::Value> {
        self.inner().snapshot()
    }
    fn restore_snapshot(&mut self, snapshot: serde_json::Value) -> Result<(), PolicyError> {
        self.inner_mut().restore_snapshot(snapshot)
    }
    fn finished(&self) -> bool {
        self.inner().finished()
    }
    fn result_epoch(&self) -> Option<usize> {
        self.inner().result_epoch()
    }
    fn architecture(&self, space: &dyn SearchSpace, cells: &[CellAlphas]) -> Result<Architecture, PolicyError> {
        self.inner().architecture(space, cells)
    }
}

/// λmax for diagnostics every `every` epochs and at the last one (policies whose decisions do not
/// read it).
fn diagnostic_lambda(every: Option<usize>, epoch: usize, epochs: usize) -> bool {
    every.is_some_and(|k| epoch.is_multiple_of(k) || epoch + 1 == epochs)
}

/// Pushes this epoch's op distribution into every cell's SGAS history and, if `decide`, fixes one
/// edge per cell (the reference `edge_decision`).
fn observe(
    sgas: &mut [SgasCellState],
    cells: &[CellAlphas],
    criterion: super::Criterion,
    decide: bool,
) -> Result<Vec<CellDecision>, PolicyError> {
    let mut out = vec![];
    for (cell, state) in sgas.iter_mut().enumerate() {
        if let Some(decision) = state.observe(&cells[cell].probs, criterion, decide)?.decision {
            out.push(CellDecision { cell, decision });
        }
    }
    Ok(out)
}

fn sgas_architecture(
    sgas: &[SgasCellState],
    space: &dyn SearchSpace,
    cells: &[CellAlphas],
) -> Result<Architecture, PolicyError> {
    Ok(space.sgas_architecture(sgas, cells)?)
}

#[cfg(test)]
pub(crate) mod testing {
    use crate::space::CellAlphas;

    /// α for one NB201 cell that favours op `best` on every edge by `margin`.
    pub fn nb201_alphas(best: usize, margin: f64) -> Vec<CellAlphas> {
        let alpha =
            (0..6).map(|e| (0..5).map(|k| if k == best { margin + e as f64 * 0.01 } else { 0.0 }).collect()).collect();
        vec![CellAlphas::new("cell", alpha)]
    }
}
