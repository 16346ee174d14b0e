//! Parameter counts of the DARTS language models, counted as the reference counts them
//! (`sum(p.nelement() for p in model.parameters())` in quark0/darts `rnn/train.py` and
//! `rnn/train_search.py`):
//!
//! - the embedding (`vocab x embedding`), whose matrix the decoder shares: counted once;
//! - the decoder bias (`vocab`);
//! - the initial-state map `W0` (`(embedding + hidden) x 2·hidden`: gate and candidate);
//! - one map `W_i` (`hidden x 2·hidden`) per intermediate node.
//!
//! The search model has the same weights with all [`STEPS`] node maps (every node may take any
//! predecessor, and all predecessors share the node's map); its batch norms have no affine weights,
//! and α is not a model parameter in the reference, so neither is counted.

use super::{RnnGenotype, STEPS};

/// Why a language-model size was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LmSizeError {
    #[error(
        "embedding size {embedding} differs from hidden size {hidden}: the decoder reuses the embedding \
         matrix and reads the cell's hidden state, so the two must be equal (as the reference asserts); \
         give the same value to both or drop --embedding"
    )]
    Untied { embedding: usize, hidden: usize },
    #[error("{what} must be at least 1")]
    Zero { what: &'static str },
}

/// Vocabulary, embedding and hidden sizes of a DARTS language model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LmSize {
    pub vocab: usize,
    pub embedding: usize,
    pub hidden: usize,
}

impl LmSize {
    /// Penn Treebank's vocabulary (10,000 words, `<eos>` and `<unk>` included) at the evaluation size
    /// the DARTS paper reports (embedding = hidden = 850).
    pub const PTB_EVAL: LmSize = LmSize { vocab: 10_000, embedding: 850, hidden: 850 };
    /// The search size (embedding = hidden = 300).
    pub const PTB_SEARCH: LmSize = LmSize { vocab: 10_000, embedding: 300, hidden: 300 };

    pub fn new(vocab: usize, embedding: usize, hidden: usize) -> Result<Self, LmSizeError> {
        for (what, v) in [("vocabulary size", vocab), ("embedding size", embedding), ("hidden size", hidden)] {
            if v == 0 {
                return Err(LmSizeError::Zero { what });
            }
        }
        if embedding != hidden {
            return Err(LmSizeError::Untied { embedding, hidden });
        }
        Ok(LmSize { vocab, embedding, hidden })
    }

    /// Weights of the evaluation model of `genotype`.
    pub fn eval_params(&self, genotype: &RnnGenotype) -> u64 {
        self.params(genotype.steps())
    }

    /// Weights of the search model (mixed ops on every predecessor edge of all [`STEPS`] nodes).
    pub fn search_params(&self) -> u64 {
        self.params(STEPS)
    }

    fn params(&self, steps: usize) -> u64 {
        let (v, e, h) = (self.vocab as u64, self.embedding as u64, self.hidden as u64);
        v * e + v + (e + h) * 2 * h + steps as u64 * h * 2 * h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::darts_rnn::resolve;

    #[test]
    fn counts_derived_by_hand() {
        // 10,000·850 embedding + 10,000 bias + 1,700·1,700 W0 + 8·850·1,700 node maps
        // = 8,500,000 + 10,000 + 2,890,000 + 11,560,000: the DARTS paper's "23M" for DARTS_V2.
        let eval = LmSize::PTB_EVAL;
        assert_eq!(eval.eval_params(&resolve("DARTS_V2").unwrap()), 22_960_000);
        assert_eq!(eval.eval_params(&resolve("DARTS_V1").unwrap()), 22_960_000);
        // ENAS has 11 nodes: 3 more maps of 850·1,700.
        assert_eq!(eval.eval_params(&resolve("ENAS").unwrap()), 22_960_000 + 3 * 1_445_000);
        // 3,000,000 + 10,000 + 600·600 + 8·300·600.
        assert_eq!(LmSize::PTB_SEARCH.search_params(), 4_810_000);
        let tiny = LmSize::new(7, 3, 3).unwrap();
        assert_eq!(tiny.search_params(), 7 * 3 + 7 + 6 * 6 + 8 * 3 * 6);
    }

    #[test]
    fn untied_or_empty_sizes_are_refused() {
        let e = LmSize::new(10_000, 400, 850).unwrap_err();
        assert_eq!(e, LmSizeError::Untied { embedding: 400, hidden: 850 });
        assert!(e.to_string().contains("drop --embedding"), "{e}");
        assert_eq!(LmSize::new(0, 8, 8), Err(LmSizeError::Zero { what: "vocabulary size" }));
    }
}
