//! Networks and their building blocks.

pub mod darts_net;
pub mod layers;
pub mod nb101_net;
pub mod nb201_net;
pub mod ops;
pub mod profile;
pub mod proxyless_net;
pub mod rnn_lm;
pub mod state_dict;

pub use darts_net::{DartsNetConfig, DartsNetwork, DartsOutput, DropPath};
pub use layers::count_macs;
pub use nb101_net::{Nb101NetConfig, Nb101Network};
pub use nb201_net::{Nb201NetConfig, Nb201Network};
pub use proxyless_net::{ProxylessNetConfig, ProxylessNetwork, SupernetOptions as ProxylessSupernetOptions};
pub use rnn_lm::{mean_nll, token_ids, Dropout, Dropouts, LmOutput, RnnLm, RnnLmConfig};
