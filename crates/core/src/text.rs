//! Word-level language-model data in the Penn Treebank form (Mikolov's `ptb.{train,valid,test}.txt`):
//! one sentence per line, words separated by spaces, rare words already replaced by `<unk>`.
//!
//! - [`corpus`]: reading the three files (from a directory or the embedded corpus) into token ids over
//!   a vocabulary built from the training file, with `<eos>` appended to every line.
//! - [`batch`]: the reference's `batchify` (the token stream cut into contiguous columns) and its BPTT
//!   windows, whose lengths vary around `bptt` as AWD-LSTM and DARTS draw them, from a seeded stream.

pub mod batch;
pub mod corpus;

pub use batch::{BatchError, Columns, SeqLen, Window};
pub use corpus::{Corpus, TextError, Vocab};
