//! The NAS-Bench-101 cell space (Ying et al. 2019): a DAG over at most 7 vertices (input, up to five
//! ops, output) with at most 9 edges, each intermediate vertex one of three ops.
//!
//! - [`Cell`] parses the official API's JSON form and oxnas's short form, prunes vertices that are
//!   not on an input→output path and checks the benchmark's limits ([`cell`]).
//! - [`Cell::module_hash`] is the benchmark's key for a cell and its isomorphs ([`hash`]);
//!   [`Cell::canonical`] is one fixed vertex order per isomorphism class ([`canon`]).
//! - [`model`] counts the parameters and FLOPs of the evaluation network the benchmark trained.
//! - [`tfrecord`], [`metrics`] and [`table`] import the official `nasbench_only108.tfrecord` /
//!   `nasbench_full.tfrecord` into a compact table that answers by hash.
//!
//! docs/nb101.md explains the space, the hash, what the parameter count covers and the table format.

pub mod canon;
pub mod cell;
pub mod hash;
pub mod metrics;
pub mod model;
pub mod op;
pub mod sample;
pub mod table;
pub mod tfrecord;

pub use cell::{Cell, CellError, MAX_EDGES, MAX_VERTICES};
pub use model::{network_cost, NetConfig, NetCost};
pub use op::Nb101Op;
pub use table::{Nb101Table, TableError};
