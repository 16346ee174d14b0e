//! The DARTS recurrent search cell (quark0/darts `rnn/model_search.py`): every intermediate node may
//! take any earlier node through any op, so node `i` (0-based) has `i + 1` incoming edges and each edge
//! mixes the four real ops by softmax(α) (`none` is a column of α but contributes nothing). With 8
//! nodes there are 1 + 2 + ... + 8 = 36 edges, α is 36 x 5, ordered node by node, predecessor by
//! predecessor.
//!
//! All edges into a node share the node's map `W_i`: the gate and candidate of predecessor `j` are
//! `[c, h] = s_j W_i`, and the edge's op `f` gives `s_j + sigmoid(c) * (f(h) - s_j)`. The node sums
//! its edges and goes through a batch norm without affine weights, which the reference shares between
//! node 0 and all 8 nodes (one set of running statistics); the cell output is the mean of the 8 nodes.
//!
//! Edge states follow the SGAS decisions of the CNN spaces: a `Fixed(op)` edge runs that op alone
//! with weight 1, a `Pruned` edge contributes nothing.

use tch::{nn, nn::Path, Kind, Tensor};

use super::supernet::{ArchCell, EdgeState, Supernet};
use crate::nn::rnn_lm::{
    activation, initial_state, unroll_with, CellMasks, RecurrentCell, RnnLm, RnnLmConfig, INIT_RANGE,
};
use oxnas_core::darts_rnn::{RnnGenotype, RnnOp, STEPS};

/// Edges of the search cell: node `i` has `i + 1` predecessors.
pub const EDGES: usize = STEPS * (STEPS + 1) / 2;

/// The batch norm's ε (PyTorch's `BatchNorm1d` default, which the reference keeps; so is its
/// momentum of 0.1, [`crate::nn::layers::bn_momentum`]'s default).
const BN_EPS: f64 = 1e-5;

pub struct SearchRnnCell {
    w0: Tensor,
    ws: Vec<Tensor>,
    running_mean: Tensor,
    running_var: Tensor,
    pub arch: ArchCell,
    /// When set, the cell runs this genotype's edges alone on the shared weights (single-path
    /// training and scoring, "How does supernet help in NAS?") instead of mixing every edge.
    pub path: Option<RnnGenotype>,
    hidden: i64,
}

impl SearchRnnCell {
    /// Weights under `p` (`_W0`, `_Ws.{i}`, `bn.running_mean`, `bn.running_var`), α on `p`'s device.
    pub fn new(p: &Path, input: i64, hidden: i64) -> Self {
        let init = nn::Init::Uniform { lo: -INIT_RANGE, up: INIT_RANGE };
        let w0 = p.var("_W0", &[input + hidden, 2 * hidden], init);
        let ws_path = p / "_Ws";
        let ws = (0..STEPS).map(|i| ws_path.var(&i.to_string(), &[hidden, 2 * hidden], init)).collect();
        let bn = p / "bn";
        let running_mean = bn.zeros_no_train("running_mean", &[hidden]);
        let running_var = bn.ones_no_train("running_var", &[hidden]);
        let arch = ArchCell::new(p.device(), "recurrent", EDGES, RnnOp::ALL.len());
        SearchRnnCell { w0, ws, running_mean, running_var, arch, path: None, hidden }
    }

    fn bn(&self, x: &Tensor, train: bool) -> Tensor {
        Tensor::batch_norm(
            x,
            None::<&Tensor>,
            None::<&Tensor>,
            Some(&self.running_mean),
            Some(&self.running_var),
            train,
            if train { crate::nn::layers::bn_momentum() } else { 0.0 },
            BN_EPS,
            false,
        )
    }

    /// `[i + 1, ops]` mixing weights of node `i`'s edges from their states.
    fn node_weights(&self, mixed: &[Option<Tensor>], node: usize) -> Tensor {
        let first = node * (node + 1) / 2;
        let rows: Vec<Tensor> = (first..=first + node)
            .map(|e| match (self.arch.states[e], &mixed[e]) {
                (EdgeState::Mixed, Some(w)) => w.shallow_clone(),
                (EdgeState::Fixed(op), _) => one_hot(op, self.arch.alphas[e].device()),
                _ => Tensor::zeros([RnnOp::ALL.len() as i64], (Kind::Float, self.arch.alphas[e].device())),
            })
            .collect();
        Tensor::stack(&rows, 0)
    }

    fn step(
        &self,
        x: &Tensor,
        h_prev: &Tensor,
        masks: Option<&CellMasks>,
        node_weights: &[Tensor],
        train: bool,
    ) -> Tensor {
        let s0 = self.bn(&initial_state(x, h_prev, &self.w0, self.hidden, masks), train);
        let mut states = s0.unsqueeze(0);
        for (i, w_i) in self.ws.iter().enumerate() {
            let read = match masks {
                Some(m) => &states * m.h.unsqueeze(0),
                None => states.shallow_clone(),
            };
            let ch = read.matmul(w_i);
            let parts = ch.split(self.hidden, -1);
            let c = parts[0].sigmoid();
            let weights = &node_weights[i];
            let mut s = states.get(0).zeros_like();
            for op in RnnOp::REAL {
                let unweighted = &states + &c * (activation(&parts[1], op) - &states);
                let w = weights.select(1, op.primitive_index() as i64).view([-1, 1, 1]);
                s += (w * unweighted).sum_dim_intlist(0, false, Kind::Float);
            }
            states = Tensor::cat(&[states, self.bn(&s, train).unsqueeze(0)], 0);
        }
        states.narrow(0, 1, STEPS as i64).mean_dim(0, false, Kind::Float)
    }
}

fn one_hot(op: usize, device: tch::Device) -> Tensor {
    let mut v = vec![0f32; RnnOp::ALL.len()];
    v[op] = 1.0;
    Tensor::from_slice(&v).to_device(device)
}

impl SearchRnnCell {
    /// One time step of the genotype `g` alone: node `i + 1` reads node `g.recurrent[i].1` through
    /// node `i`'s map and op, then the shared batch norm, as a fully decided search cell computes it
    /// (a test checks this) without the other edges' work.
    fn path_step(
        &self,
        x: &Tensor,
        h_prev: &Tensor,
        masks: Option<&CellMasks>,
        g: &RnnGenotype,
        train: bool,
    ) -> Tensor {
        let mut states = vec![self.bn(&initial_state(x, h_prev, &self.w0, self.hidden, masks), train)];
        for (w_i, &(op, pred)) in self.ws.iter().zip(&g.recurrent) {
            let s = &states[pred];
            let read = match masks {
                Some(m) => s * &m.h,
                None => s.shallow_clone(),
            };
            let parts = read.matmul(w_i).split(self.hidden, -1);
            let next = s + parts[0].sigmoid() * (activation(&parts[1], op) - s);
            states.push(self.bn(&next, train));
        }
        let chosen: Vec<&Tensor> = g.concat.iter().map(|&c| &states[c]).collect();
        Tensor::stack(&chosen, 0).mean_dim(0, false, Kind::Float)
    }
}

impl RecurrentCell for SearchRnnCell {
    fn unroll(&self, inputs: &Tensor, h0: &Tensor, masks: Option<&CellMasks>, train: bool) -> Tensor {
        if let Some(g) = &self.path {
            return unroll_with(inputs, h0, |x, h| self.path_step(x, h, masks, g, train));
        }
        // softmax(α) and each node's edge weights once per window: every time step mixes with the same.
        let mixed = self.arch.weights();
        let node_weights: Vec<Tensor> = (0..STEPS).map(|i| self.node_weights(&mixed, i)).collect();
        unroll_with(inputs, h0, |x, h| self.step(x, h, masks, &node_weights, train))
    }
}

/// The search language model (quark0/darts `RNNModelSearch`): embedding, the mixed cell, tied decoder.
pub struct RnnSupernet {
    vs: nn::VarStore,
    pub lm: RnnLm<SearchRnnCell>,
}

impl RnnSupernet {
    /// Weights under the reference's names (`encoder.weight`, `rnns.0._W0`, ...), from libtorch's
    /// generator, which the caller seeds.
    pub fn new(cfg: &RnnLmConfig, device: tch::Device) -> Self {
        let vs = nn::VarStore::new(device);
        let lm = RnnLm::with_cell(&vs.root(), cfg, |p| SearchRnnCell::new(p, cfg.hidden, cfg.hidden));
        RnnSupernet { vs, lm }
    }
}

impl Supernet for RnnSupernet {
    fn weights(&self) -> &nn::VarStore {
        &self.vs
    }

    fn arch(&self) -> &[ArchCell] {
        std::slice::from_ref(&self.lm.cell.arch)
    }

    fn arch_mut(&mut self) -> &mut [ArchCell] {
        std::slice::from_mut(&mut self.lm.cell.arch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::rnn_lm::{Dropout, Dropouts, RnnLm, RnnLmConfig};
    use oxnas_core::darts_rnn::{cost::LmSize, derive::derive};
    use std::collections::HashMap;
    use tch::{nn::VarStore, Device};

    fn search_lm(vocab: i64, hidden: i64) -> (VarStore, RnnLm<SearchRnnCell>) {
        let vs = VarStore::new(Device::Cpu);
        let cfg = RnnLmConfig { vocab, hidden, dropouts: Dropouts::SEARCH };
        let lm = RnnLm::with_cell(&vs.root(), &cfg, |p| SearchRnnCell::new(p, hidden, hidden));
        (vs, lm)
    }

    /// Fixes each node's edge from its predecessor to the genotype's op and prunes its other edges.
    fn decide_as(arch: &mut ArchCell, g: &oxnas_core::darts_rnn::RnnGenotype) {
        let mut first = 0;
        for (node, &(op, pred)) in g.recurrent.iter().enumerate() {
            for j in 0..=node {
                let state = if j == pred { EdgeState::Fixed(op.primitive_index()) } else { EdgeState::Pruned };
                arch.set_state(first + j, state);
            }
            first += node + 1;
        }
    }

    #[test]
    fn weights_equal_the_reference_search_model() {
        let (vs, lm) = search_lm(97, 24);
        let count: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(count as u64, LmSize::new(97, 24, 24).unwrap().search_params());
        assert_eq!((lm.cell.arch.alphas.len(), lm.cell.arch.alphas[0].size()), (36, vec![5]));
    }

    /// quark0/darts `RNNModelSearch` in evaluation mode (bench/pytorch/darts_rnn_golden.py): same
    /// weights, α and BN statistics, two windows with the state carried; and the genotype it derives.
    #[test]
    fn forward_and_genotype_match_the_reference_search_model() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let golden: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixtures.join("darts_rnn_golden.json")).unwrap()).unwrap();
        let file = Tensor::read_safetensors(fixtures.join("darts_rnn_search_v20_h16.safetensors")).unwrap();
        let weights: HashMap<String, Tensor> = file.into_iter().collect();
        let (vs, lm) = search_lm(20, 16);
        tch::no_grad(|| {
            for (name, mut var) in vs.variables() {
                var.copy_(&weights[&name]);
            }
            for (e, a) in lm.cell.arch.alphas.iter().enumerate() {
                a.shallow_clone().copy_(&weights["alpha"].get(e as i64));
            }
        });
        let rows: Vec<Vec<i64>> = serde_json::from_value(golden["tokens"].clone()).unwrap();
        let tokens = Tensor::from_slice2(&rows);
        let (mut hidden, mut start) = (lm.init_hidden(3), 0);
        for (w, len) in [4i64, 2].into_iter().enumerate() {
            let out = tch::no_grad(|| lm.forward_t(&tokens.narrow(0, start, len), &hidden, Dropout::Off));
            let want: Vec<Vec<Vec<f32>>> = serde_json::from_value(golden["search_log_probs"][w].clone()).unwrap();
            let want = Tensor::from_slice(&want.concat().concat()).view([len, 3, 20]);
            let diff = (&out.log_probs - &want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "window {w}: max |difference| {diff}");
            (hidden, start) = (out.hidden, start + len);
        }
        let alpha = lm.cell.arch.values();
        assert_eq!(derive(&alpha).unwrap().to_string(), golden["search_genotype"].as_str().unwrap());
    }

    /// The single-path forward equals the search cell with the genotype's edges fixed and the others
    /// pruned, in evaluation mode and in training mode (same dropout masks, batch statistics), and it
    /// does not read α.
    #[test]
    fn the_path_forward_equals_the_fully_decided_mixed_cell() {
        let g = oxnas_core::darts_rnn::resolve("DARTS_V1").unwrap();
        let (_vs, mut lm) = search_lm(13, 6);
        decide_as(&mut lm.cell.arch, &g);
        let tokens = Tensor::from_slice(&[1i64, 5, 7, 2, 9, 3, 4, 12]).view([4, 2]);
        let h = lm.init_hidden(2);
        // Evaluation first: a training-mode pass moves the batch norm's running statistics.
        for d in [Dropout::Off, Dropout::Seed(7)] {
            let mixed = lm.forward_t(&tokens, &h, d).log_probs;
            // α trainable while the path runs, so that reading it would show in the graph.
            let alpha = [lm.cell.arch.alphas[0].shallow_clone().set_requires_grad(true)];
            lm.cell.path = Some(g.clone());
            let path = lm.forward_t(&tokens, &h, d).log_probs;
            lm.cell.path = None;
            let diff = (&mixed - &path).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{d:?}: max |difference| {diff}");
            let grads = Tensor::run_backward(&[path.sum(Kind::Float)], &alpha, false, true);
            assert!(!grads[0].defined(), "a single path does not read α");
            let _ = alpha[0].shallow_clone().set_requires_grad(false);
        }
    }

    /// A node whose edges are all decided computes what the evaluation cell computes for that choice:
    /// fixing every node's (op, predecessor) to DARTS_V2's turns the search cell into DARTS_V2's cell
    /// up to the batch norms, which evaluation with identity statistics (mean 0, var 1 - ε) removes.
    #[test]
    fn fixed_and_pruned_edges_give_the_genotypes_cell() {
        let g = oxnas_core::darts_rnn::resolve("DARTS_V2").unwrap();
        let (vs, mut lm) = search_lm(11, 6);
        let eval_vs = VarStore::new(Device::Cpu);
        let cfg = RnnLmConfig { vocab: 11, hidden: 6, dropouts: Dropouts::NONE };
        let eval = RnnLm::new(&eval_vs.root(), &cfg, &g);
        tch::no_grad(|| {
            let src = vs.variables();
            for (name, mut var) in eval_vs.variables() {
                var.copy_(&src[&name]);
            }
            let _ = src["rnns.0.bn.running_var"].shallow_clone().fill_(1.0 - BN_EPS);
        });
        decide_as(&mut lm.cell.arch, &g);
        let tokens = Tensor::from_slice(&[1i64, 5, 7, 2, 9, 3]).view([3, 2]);
        let h = lm.init_hidden(2);
        let a = tch::no_grad(|| lm.forward_t(&tokens, &h, Dropout::Off));
        let b = tch::no_grad(|| eval.forward_t(&tokens, &h, Dropout::Off));
        let diff = (&a.log_probs - &b.log_probs).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "max |difference| {diff}");
    }
}
