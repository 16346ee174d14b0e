//! Engine-free parts of oxnas. Nothing here links libtorch, so this crate builds and tests in seconds.
//!
//! - [`nb201`]: the NAS-Bench-201 cell space (ops, arch strings, isomorphism classes).
//! - [`darts`]: the DARTS CNN space (ops, op subsets, `Genotype` in the reference string form).
//! - [`darts_rnn`]: the DARTS recurrent-cell space (ops, `RnnGenotype`, language-model sizes).
//! - [`bench`]: the NAS-Bench-201 ground-truth table, embedded in compact form.
//! - [`data`]: dataset readers (IDX, CIFAR), the embedded Fashion-MNIST subset, the seeded loader and
//!   augmentations on raw bytes.
//! - [`text`]: word-level language-model corpora in the Penn Treebank form, batching and BPTT windows.
//! - [`proxyless`]: the ProxylessNAS mobile space (backbone, subnets, exact params and FLOPs).
//! - [`space`] and [`search::policy`]: search spaces and decision policies as pluggable pieces.

pub mod arch;
pub mod bench;
pub mod config;
pub mod darts;
pub mod darts_rnn;
pub mod data;
pub mod fsutil;
pub mod lock;
pub mod logits;
pub mod nb101;
pub mod nb201;
pub mod oneshot;
pub mod proxyless;
pub mod prune;
pub(crate) mod pyrepr;
pub mod rank;
pub mod rng;
pub mod search;
pub mod shard;
pub mod space;
pub mod text;
