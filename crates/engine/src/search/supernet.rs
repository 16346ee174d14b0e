//! What a search loop needs from a weight-sharing supernet, whatever its space: the two parameter
//! groups (weights w and architecture α) and per-edge states that decisions change. How a batch
//! becomes a loss is the workload's business ([`super::workload`]); the image supernets share one
//! forward form, [`ImageSupernet`].

use tch::{nn::VarStore, Tensor};

/// What an edge computes (`Mixed`, `Fixed(op column)` or `Pruned`): the engine-free type the SGAS
/// policies decide with, so decisions apply to the supernet without translation.
pub use oxnas_core::search::EdgeState;

/// The α of one cell type ("cell" in NB201; "normal" and "reduce" in DARTS): one row per edge, so
/// rows can be frozen one by one.
pub struct ArchCell {
    pub name: &'static str,
    pub alphas: Vec<Tensor>,
    pub states: Vec<EdgeState>,
}

impl ArchCell {
    /// α rows initialised as 1e-3·N(0,1) from libtorch's (seeded) CPU generator, as all reference
    /// supernets do, then moved to `device` (the same α on every device, as
    /// [`crate::device::init_on_cpu`] does for weights). Checkpoints name them `alpha.<name>.<edge>`.
    pub fn new(device: tch::Device, name: &'static str, edges: usize, ops: usize) -> Self {
        let draw = || Tensor::randn([ops as i64], (tch::Kind::Float, tch::Device::Cpu)) * 1e-3;
        let alphas = (0..edges).map(|_| draw().to_device(device).set_requires_grad(true)).collect();
        ArchCell { name, alphas, states: vec![EdgeState::Mixed; edges] }
    }

    /// Per-edge mixing weights for one forward pass: softmax(α_e) for mixed edges, None otherwise.
    pub fn weights(&self) -> Vec<Option<Tensor>> {
        self.alphas
            .iter()
            .zip(&self.states)
            .map(|(a, s)| matches!(s, EdgeState::Mixed).then(|| a.softmax(-1, a.kind())))
            .collect()
    }

    /// α as plain numbers, rows = edges.
    pub fn values(&self) -> Vec<Vec<f64>> {
        self.alphas
            .iter()
            .map(|a| Vec::<f64>::try_from(a.to_kind(tch::Kind::Double).to_device(tch::Device::Cpu)).expect("alpha row"))
            .collect()
    }

    pub fn set_state(&mut self, edge: usize, state: EdgeState) {
        self.states[edge] = state;
        let trainable = matches!(state, EdgeState::Mixed);
        // Frozen α get neither gradients nor optimiser updates (the tensor is changed in place, so
        // every holder of it sees the change).
        let _ = self.alphas[edge].set_requires_grad(trainable);
    }
}

/// The trainable variables of `vs`, sorted by name: the fixed order optimisers and checkpoints use.
pub fn sorted_trainable(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(_, t)| t.requires_grad()).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

pub trait Supernet {
    /// Network weights w (trainable and BN buffers).
    fn weights(&self) -> &VarStore;
    fn arch(&self) -> &[ArchCell];
    fn arch_mut(&mut self) -> &mut [ArchCell];

    /// The α rows still being optimised, in a fixed order (cell by cell, edge by edge).
    fn trainable_alphas(&self) -> Vec<Tensor> {
        self.arch()
            .iter()
            .flat_map(|c| {
                c.alphas
                    .iter()
                    .zip(&c.states)
                    .filter(|(_, s)| matches!(s, EdgeState::Mixed))
                    .map(|(a, _)| a.shallow_clone())
            })
            .collect()
    }

    /// Named trainable weights, sorted by name.
    fn trainable_weights(&self) -> Vec<(String, Tensor)> {
        sorted_trainable(self.weights())
    }

    /// Every weight, buffer and α converted to `kind` in place (values, layouts, edge states and
    /// gradient flags kept): an f64 copy of an f32 state tells how much rounding moves a result.
    fn convert_to(&self, kind: tch::Kind) {
        tch::no_grad(|| {
            let alphas = self.arch().iter().flat_map(|c| c.alphas.iter().map(Tensor::shallow_clone));
            for mut t in self.weights().variables().into_values().chain(alphas) {
                let converted = t.to_kind(kind);
                t.set_data(&converted);
            }
        });
    }
}

/// A supernet that maps a batch of images to class logits (the NB201 and DARTS CNN supernets).
pub trait ImageSupernet: Supernet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor;

    /// Puts the network into (`true`) or takes it out of (`false`) the form Hessian-vector
    /// products run in, where it differs from the training form; see [`SecondOrderForm`].
    fn set_second_order_form(&self, _on: bool) {}
}

/// The network in its second-order form while this guard lives, back in its training form after
/// (also when the probe fails). The fused DARTS supernet trains channels-last, where libtorch's
/// CPU depthwise convs and max pooling are fastest, but double backward there is both slower and
/// less accurate: on a real Fashion-MNIST batch its f32 λmax was 0.3% off the f64 value and moved
/// 0.4% with the thread count, against 1e-5 in NCHW (BENCHMARKS.md, "λmax in f32"), so its
/// Hessian probes run in NCHW.
pub struct SecondOrderForm<'a> {
    net: &'a dyn ImageSupernet,
}

impl<'a> SecondOrderForm<'a> {
    pub fn enter(net: &'a dyn ImageSupernet) -> Self {
        net.set_second_order_form(true);
        SecondOrderForm { net }
    }
}

impl Drop for SecondOrderForm<'_> {
    fn drop(&mut self) {
        self.net.set_second_order_form(false);
    }
}
