//! The search networks against the reference implementations (quark0/darts `model_search.Network`,
//! AutoDL `TinyNetworkDarts`): parameter counts and the exact state_dict key lists, produced by running
//! the reference code under torch 2.11.0 (C=16, 8 cells / 5 cells per stage, 10 classes, 3 channels).

use oxnas_core::config::Execution;
use oxnas_core::darts::OpSet;
use oxnas_engine::nn::state_dict;
use oxnas_engine::search::{
    DartsSupernet, DartsSupernetConfig, EdgeState, ImageSupernet, Nb201Supernet, Nb201SupernetConfig, Supernet,
};
use std::collections::BTreeSet;
use tch::{Device, Kind, Tensor};

fn darts_cfg(ops: OpSet) -> DartsSupernetConfig {
    DartsSupernetConfig {
        channels: 16,
        layers: 8,
        steps: 4,
        num_classes: 10,
        in_channels: 3,
        ops,
        track_running_stats: true,
        execution: Execution::Fused,
    }
}

fn nb201_cfg(track: bool) -> Nb201SupernetConfig {
    Nb201SupernetConfig {
        channels: 16,
        cells_per_stage: 5,
        num_classes: 10,
        in_channels: 3,
        track_running_stats: track,
        pool_bn: false,
        execution: Execution::Fused,
    }
}

fn params(net: &dyn Supernet) -> i64 {
    net.trainable_weights().iter().map(|(_, t)| t.numel() as i64).sum()
}

fn reference_keys(file: &str) -> BTreeSet<String> {
    let path = format!("{}/tests/fixtures/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|k| !k.starts_with("arch_parameters") && !k.starts_with("alphas_"))
        .map(String::from)
        .collect()
}

#[test]
fn darts_supernet_matches_reference() {
    assert_eq!(params(&DartsSupernet::new(&darts_cfg(OpSet::darts()), Device::Cpu)), 1_930_618);
    let net = DartsSupernet::new(&darts_cfg(OpSet::sgas_es()), Device::Cpu);
    assert_eq!(params(&net), 927_994);
    let ours: BTreeSet<String> = state_dict::export(net.weights(), 0).into_iter().map(|(k, _)| k).collect();
    assert_eq!(ours, reference_keys("keys_darts_search5.txt"));
    assert_eq!(net.arch().len(), 2);
    assert_eq!(net.arch()[0].alphas.len(), 14);
    assert_eq!(net.arch()[0].alphas[0].size(), [5]);
}

#[test]
fn nb201_supernet_matches_reference() {
    let net = Nb201Supernet::new(&nb201_cfg(false), Device::Cpu);
    assert_eq!(params(&net), 1_692_826);
    let ours: BTreeSet<String> = state_dict::export(net.weights(), 0).into_iter().map(|(k, _)| k).collect();
    assert_eq!(ours, reference_keys("keys_nb201_search.txt"));
    assert_eq!(params(&Nb201Supernet::new(&nb201_cfg(true), Device::Cpu)), 1_692_826);
}

#[test]
fn decided_edges_run_one_op_and_freeze_alpha() {
    tch::manual_seed(0);
    let cfg = Nb201SupernetConfig {
        channels: 4,
        cells_per_stage: 1,
        num_classes: 10,
        in_channels: 1,
        track_running_stats: false,
        pool_bn: false,
        execution: Execution::Fused,
    };
    let mut net = Nb201Supernet::new(&cfg, Device::Cpu);
    let x = Tensor::randn([2, 1, 16, 16], (Kind::Float, Device::Cpu));
    let loss = net.forward_t(&x, true).sum(Kind::Float);
    let grads = Tensor::run_backward(&[loss], &net.trainable_alphas(), false, false);
    assert_eq!(grads.len(), 6);
    assert!(
        grads.iter().all(|g| g.abs().sum(Kind::Float).double_value(&[]) > 0.0),
        "every mixed edge's alpha gets a gradient"
    );

    // Fix edge 0 to nor_conv_3x3 (column 3): its alpha leaves the trainable set and its value no longer
    // matters for the output.
    net.arch_mut()[0].set_state(0, EdgeState::Fixed(3));
    assert_eq!(net.trainable_alphas().len(), 5);
    assert!(!net.arch()[0].alphas[0].requires_grad());
    let before = tch::no_grad(|| net.forward_t(&x, false));
    tch::no_grad(|| {
        let _ = net.arch()[0].alphas[0].shallow_clone().fill_(5.0);
    });
    let after = tch::no_grad(|| net.forward_t(&x, false));
    assert!(before.allclose(&after, 1e-6, 1e-6, false), "a fixed edge must ignore its alpha");
    // Changing a mixed edge's alpha does change the output.
    tch::no_grad(|| {
        net.arch()[0].alphas[1].shallow_clone().copy_(&Tensor::from_slice(&[0.0f32, 5.0, 0.0, 0.0, 0.0]));
    });
    let mixed = tch::no_grad(|| net.forward_t(&x, false));
    assert!(!after.allclose(&mixed, 1e-6, 1e-6, false));
}

#[test]
fn darts_supernet_pruned_edges_and_gray_input() {
    tch::manual_seed(0);
    let cfg = DartsSupernetConfig {
        channels: 4,
        layers: 5,
        steps: 4,
        num_classes: 10,
        in_channels: 1,
        ops: OpSet::sgas_es(),
        track_running_stats: true,
        execution: Execution::Fused,
    };
    let mut net = DartsSupernet::new(&cfg, Device::Cpu);
    // Node 0 of the normal cell: edges 0, 1. Decide edge 0 (sep_conv_3x3, column 3), prune edge 1.
    net.arch_mut()[0].set_state(0, EdgeState::Fixed(3));
    net.arch_mut()[0].set_state(1, EdgeState::Pruned);
    let y = net.forward_t(&Tensor::randn([2, 1, 28, 28], (Kind::Float, Device::Cpu)), true);
    assert_eq!(y.size(), [2, 10]);
    assert_eq!(net.trainable_alphas().len(), 26);
}
