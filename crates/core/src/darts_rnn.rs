//! The DARTS recurrent-cell space (Liu, Simonyan & Yang, "DARTS", ICLR 2019; quark0/darts `rnn/`),
//! searched on Penn Treebank.
//!
//! A cell turns the input embedding `x_t` and the previous hidden state `h_{t-1}` into `h_t`:
//! - node 0 is computed from `[x_t, h_{t-1}]` by one linear map into a gate `c` and a candidate `h`:
//!   `s_0 = h_{t-1} + sigmoid(c) * (tanh(h) - h_{t-1})`;
//! - each of the `steps` (8) intermediate nodes `i` takes one earlier node `s_j` (`j < i`), maps it
//!   linearly into `c` and `h`, applies its activation `f` to `h` and updates in the same highway
//!   form, `s_i = s_j + sigmoid(c) * (f(h) - s_j)`;
//! - the output `h_t` is the mean of the nodes listed in `concat` (all 8 intermediate nodes in DARTS).
//!
//! - [`RnnOp`]: the candidate activations in the reference `PRIMITIVES` order (`none` included: it is
//!   a column of α in the search, never part of a genotype).
//! - [`RnnGenotype`]: a discrete cell, printed and parsed in the reference's Python repr form
//!   (`Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9))`) and as JSON.
//! - [`cost`]: parameter counts of the evaluation and search language models.

pub mod cost;
pub mod derive;
mod dropouts;
mod genotype;
mod named;

pub use dropouts::Dropouts;
pub use genotype::{RnnGenotype, RnnGenotypeError};
pub use named::{resolve, NAMES};

use std::fmt;
use std::str::FromStr;

/// Intermediate nodes of the DARTS recurrent cell (the reference's `STEPS`).
pub const STEPS: usize = 8;

/// The five candidate ops of a recurrent edge, in the reference `PRIMITIVES` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RnnOp {
    None = 0,
    Tanh = 1,
    Relu = 2,
    Sigmoid = 3,
    Identity = 4,
}

/// Kept in sync with [`RnnOp::ALL`] by a test.
const OP_LIST: &str = "none, tanh, relu, sigmoid, identity";

impl RnnOp {
    pub const ALL: [RnnOp; 5] = [RnnOp::None, RnnOp::Tanh, RnnOp::Relu, RnnOp::Sigmoid, RnnOp::Identity];

    /// The ops a genotype may hold: all but `none`.
    pub const REAL: [RnnOp; 4] = [RnnOp::Tanh, RnnOp::Relu, RnnOp::Sigmoid, RnnOp::Identity];

    pub fn name(self) -> &'static str {
        match self {
            RnnOp::None => "none",
            RnnOp::Tanh => "tanh",
            RnnOp::Relu => "relu",
            RnnOp::Sigmoid => "sigmoid",
            RnnOp::Identity => "identity",
        }
    }

    /// Column of α in the search (position in `PRIMITIVES`).
    pub fn primitive_index(self) -> usize {
        self as usize
    }
}

/// An op name that is not one of the five.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown recurrent op '{0}'; expected one of {OP_LIST}")]
pub struct UnknownRnnOp(pub String);

impl FromStr for RnnOp {
    type Err = UnknownRnnOp;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RnnOp::ALL.into_iter().find(|op| op.name() == s).ok_or_else(|| UnknownRnnOp(s.to_string()))
    }
}

impl fmt::Display for RnnOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_in_reference_order_and_round_trip() {
        let names: Vec<&str> = RnnOp::ALL.iter().map(|op| op.name()).collect();
        assert_eq!(names.join(", "), OP_LIST);
        for (i, op) in RnnOp::ALL.into_iter().enumerate() {
            assert_eq!(op.primitive_index(), i);
            assert_eq!(op.name().parse::<RnnOp>(), Ok(op));
            assert_eq!(serde_json::to_string(&op).unwrap(), format!("\"{}\"", op.name()));
        }
        assert_eq!(RnnOp::REAL.to_vec(), RnnOp::ALL[1..].to_vec());
        assert_eq!(
            "elu".parse::<RnnOp>().unwrap_err().to_string(),
            "unknown recurrent op 'elu'; expected one of none, tanh, relu, sigmoid, identity"
        );
    }
}
