//! The fused execution (out-edges of a node stacked; channels-last in DARTS) against the per-edge reference
//! form: same outputs, BN statistics, weight and α gradients, second-order α gradients and
//! Hessian-vector products, on both image spaces, in training and in evaluation mode, with mixed,
//! decided and pruned edges.
//!
//! In f64 the two forms agree to 1e-9 relative: the stacking is exact algebra. In f32 they run
//! different oneDNN kernels (grouped, channels-last), whose sums round differently; through a
//! 5-cell supernet and its backward pass that reaches ~1e-5 of a gradient's scale, so f32 is held
//! to 1e-4. That gap is rounding, not a loss of accuracy: measured against the same net in f64,
//! the fused f32 gradients and HVPs are as close to the exact values as the per-edge f32 ones on
//! these random batches (the last test). On real images channels-last double backward loses more,
//! so the fused DARTS supernet takes its Hessian-vector products in NCHW ([`SecondOrderForm`]);
//! a test here checks that it does, and that it comes back to its training form unchanged.

use oxnas_core::config::Execution;
use oxnas_core::darts::OpSet;
use oxnas_engine::search::architect::{cross_entropy, ImageLosses, Unrolled};
use oxnas_engine::search::{
    DartsSupernet, DartsSupernetConfig, EdgeState, ImageSupernet, Nb201Supernet, Nb201SupernetConfig, SecondOrderForm,
    Supernet,
};
use oxnas_engine::train::optim::{Sgd, SgdConfig};
use tch::{Device, Kind, Tensor};

const TOL_F64: f64 = 1e-9;

/// Held wherever libtorch's global generator is seeded and drawn from: tests run in parallel threads,
/// and without it their draws interleave, so a test's weights would change from run to run.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
const TOL_F32: f64 = 1e-4;

/// max|a − b| / max|b|: one scale per tensor, so entries near zero do not blow the ratio up.
fn rel_err(a: &Tensor, b: &Tensor) -> f64 {
    let scale = b.abs().max().double_value(&[]).max(1e-12);
    (a - b).abs().max().double_value(&[]) / scale
}

fn assert_close(what: &str, a: &Tensor, b: &Tensor) {
    assert_eq!(a.size(), b.size(), "{what}: shapes");
    let tol = if b.kind() == Kind::Double { TOL_F64 } else { TOL_F32 };
    let e = rel_err(a, b);
    assert!(e < tol, "{what}: fused vs per-edge relative error {e:.2e} (tolerance {tol:.0e})");
}

/// A gradient that is zero in exact arithmetic (a conv bias under batch-statistics BN, whose mean
/// subtraction cancels it) is rounding noise in both forms: both must stay below `noise`.
/// Every other gradient is compared as [`assert_close`] does.
fn assert_grad_close(what: &str, a: &Tensor, b: &Tensor, noise: f64) {
    let size = |t: &Tensor| t.abs().max().double_value(&[]);
    if size(b) < noise {
        assert!(size(a) < noise, "{what}: rounding noise {:.2e} per-edge but {:.2e} fused", size(b), size(a));
    } else {
        assert_close(what, a, b);
    }
}

fn max_abs(ts: &[Tensor]) -> f64 {
    ts.iter().filter(|t| t.defined()).map(|t| t.abs().max().double_value(&[])).fold(0.0, f64::max)
}

fn nb201(execution: Execution, track: bool, pool_bn: bool) -> Nb201Supernet {
    let _rng = rng_lock();
    tch::manual_seed(7);
    let cfg = Nb201SupernetConfig {
        channels: 4,
        cells_per_stage: 2,
        num_classes: 10,
        in_channels: 1,
        track_running_stats: track,
        pool_bn,
        execution,
    };
    Nb201Supernet::new(&cfg, Device::Cpu)
}

fn darts(execution: Execution, ops: OpSet) -> DartsSupernet {
    let _rng = rng_lock();
    tch::manual_seed(7);
    let cfg = DartsSupernetConfig {
        channels: 4,
        layers: 5,
        steps: 4,
        num_classes: 10,
        in_channels: 1,
        ops,
        track_running_stats: true,
        execution,
    };
    DartsSupernet::new(&cfg, Device::Cpu)
}

/// α away from uniform (so that a wrong weight-to-op pairing shows in the outputs), and the same
/// weights and α in both nets.
fn same_state(fused: &dyn Supernet, reference: &dyn Supernet) {
    let _rng = rng_lock();
    tch::manual_seed(11);
    tch::no_grad(|| {
        for cell in reference.arch() {
            for a in &cell.alphas {
                a.shallow_clone().copy_(&Tensor::randn(a.size(), (Kind::Float, Device::Cpu)));
            }
        }
    });
    copy_state(fused, reference);
}

/// Every weight, buffer and α of `from` copied into `to` (same layout; the kind may differ).
fn copy_state(to: &dyn Supernet, from: &dyn Supernet) {
    tch::no_grad(|| {
        for (ct, cf) in to.arch().iter().zip(from.arch()) {
            for (at, af) in ct.alphas.iter().zip(&cf.alphas) {
                at.shallow_clone().copy_(af);
            }
        }
        let from = from.weights().variables();
        for (name, t) in to.weights().variables() {
            t.shallow_clone().copy_(&from[&name]);
        }
    });
}

fn set_states(net: &mut dyn Supernet, states: &[(usize, usize, EdgeState)]) {
    for &(cell, edge, state) in states {
        net.arch_mut()[cell].set_state(edge, state);
    }
}

fn batch(n: i64, seed: i64) -> (Tensor, Tensor) {
    let _rng = rng_lock();
    tch::manual_seed(seed);
    (Tensor::randn([n, 1, 12, 12], (Kind::Float, Device::Cpu)), Tensor::randint(10, [n], (Kind::Int64, Device::Cpu)))
}

fn named(net: &dyn Supernet) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = net.weights().variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Loss, output and the gradients of the loss w.r.t. every trainable weight and mixed α.
fn first_order(net: &dyn ImageSupernet, x: &Tensor, y: &Tensor, train: bool) -> (Tensor, Vec<Tensor>) {
    let logits = net.forward_t(x, train);
    let inputs: Vec<Tensor> =
        net.trainable_weights().into_iter().map(|(_, t)| t).chain(net.trainable_alphas()).collect();
    let grads = Tensor::run_backward(&[cross_entropy(&logits, y)], &inputs, false, true);
    (logits, grads)
}

/// H·v for the validation loss's Hessian w.r.t. the mixed α, v a fixed pseudo-random direction.
fn hvp(net: &dyn ImageSupernet, x: &Tensor, y: &Tensor) -> Vec<Tensor> {
    let alphas = net.trainable_alphas();
    let g = Tensor::run_backward(&[cross_entropy(&net.forward_t(x, true), y)], &alphas, true, true);
    let dirs: Vec<Tensor> = {
        let _rng = rng_lock();
        tch::manual_seed(5);
        // Drawn in f32 whatever the net's kind, so that f32 and f64 nets get the same direction.
        g.iter().map(|g| Tensor::randn(g.size(), (Kind::Float, Device::Cpu)).to_kind(g.kind())).collect()
    };
    let dot = g.iter().zip(&dirs).map(|(g, v)| (g * v).sum(g.kind()));
    let dot = dot.reduce(|a, b| a + b).expect("some mixed α");
    Tensor::run_backward(&[dot], &alphas, false, false)
}

/// DARTS's second-order α gradient (one unrolled SGD step, finite-difference mixed term).
fn second_order(net: &dyn ImageSupernet, train: (&Tensor, &Tensor), valid: (&Tensor, &Tensor)) -> Vec<Tensor> {
    let cfg = SgdConfig { lr: 0.025, momentum: 0.9, nesterov: true, weight_decay: 3e-4 };
    let sgd = Sgd::new(cfg, net.trainable_weights());
    let unrolled = Unrolled { xi: 0.025, w_opt: &sgd, clip: None };
    let mut losses = ImageLosses { net, train, valid };
    unrolled.alpha_grads(net.weights(), &net.trainable_alphas(), &mut losses)
}

/// Runs every comparison on a pair of nets in the same state, one per execution, in `kind`.
fn compare(label: &str, fused: &dyn ImageSupernet, reference: &dyn ImageSupernet, kind: Kind) {
    let (x, y) = batch(6, 1);
    let (xv, yv) = batch(6, 2);
    if kind == Kind::Double {
        fused.convert_to(Kind::Double);
        reference.convert_to(Kind::Double);
    }
    let (x, xv) = (x.to_kind(kind), xv.to_kind(kind));
    for train in [true, false] {
        let (out_f, grads_f) = first_order(fused, &x, &y, train);
        let (out_r, grads_r) = first_order(reference, &x, &y, train);
        assert_close(&format!("{label} logits (train={train})"), &out_f, &out_r);
        assert_eq!(grads_f.len(), grads_r.len());
        let names: Vec<String> = reference.trainable_weights().into_iter().map(|(n, _)| n).collect();
        let noise = if kind == Kind::Double { 1e-12 } else { 1e-4 } * max_abs(&grads_r);
        for (i, (gf, gr)) in grads_f.iter().zip(&grads_r).enumerate() {
            let name = names.get(i).map_or_else(|| format!("α row {}", i - names.len()), String::clone);
            assert_eq!(gf.defined(), gr.defined(), "{label}: gradient of {name} defined in one form only");
            if gr.defined() {
                assert_grad_close(&format!("{label} gradient of {name} (train={train})"), gf, gr, noise);
            }
        }
    }
    // The training forwards above updated the BN running statistics the same way.
    for ((name, f), (_, r)) in named(fused).iter().zip(named(reference)) {
        assert_close(&format!("{label} {name} after training forwards"), f, &r);
    }
    for (i, (hf, hr)) in hvp(fused, &xv, &yv).iter().zip(hvp(reference, &xv, &yv)).enumerate() {
        assert_close(&format!("{label} HVP row {i}"), hf, &hr);
    }
    fused.convert_to(Kind::Double);
    reference.convert_to(Kind::Double);
    let double = |t: &Tensor| t.to_kind(Kind::Double);
    let (x, xv) = (double(&x), double(&xv));
    // The second-order α gradient divides a difference of two gradients by 2ε (ε = 0.01/‖v‖),
    // which turns f32 rounding into percent-level noise in either form: compared in f64 only.
    if kind != Kind::Double {
        return;
    }
    let so_f = second_order(fused, (&x, &y), (&xv, &yv));
    let so_r = second_order(reference, (&x, &y), (&xv, &yv));
    for (i, (gf, gr)) in so_f.iter().zip(&so_r).enumerate() {
        assert_close(&format!("{label} second-order α gradient {i}"), gf, gr);
    }
}

#[test]
fn nb201_fused_equals_per_edge() {
    // (track_running_stats, pool_bn, kind). pool_bn puts a per-edge BN after the one pooling that a
    // node's out-edges share in the fused form.
    let cases = [
        (false, false, Kind::Double),
        (true, false, Kind::Double),
        (false, false, Kind::Float),
        (true, false, Kind::Float),
        (true, true, Kind::Double),
        (false, true, Kind::Float),
    ];
    for (track, pool_bn, kind) in cases {
        let mut fused = nb201(Execution::Fused, track, pool_bn);
        let mut reference = nb201(Execution::PerEdge, track, pool_bn);
        same_state(&fused, &reference);
        for net in [&mut fused as &mut dyn Supernet, &mut reference] {
            // Edge 3<-0 decided (nor_conv_3x3): node 0's other two edges stay stacked.
            set_states(net, &[(0, 3, EdgeState::Fixed(3))]);
        }
        compare(&format!("nb201 {kind:?} (track_running_stats={track}, pool_bn={pool_bn})"), &fused, &reference, kind);
    }
}

#[test]
fn darts_fused_equals_per_edge() {
    // The full 8-op set covers every stacked kind: pooling + BN, identity and FactorizedReduce,
    // separable and dilated convs with strides 1 and 2.
    for (ops, kind) in [(OpSet::darts(), Kind::Double), (OpSet::sgas_es(), Kind::Double), (OpSet::darts(), Kind::Float)]
    {
        let mut fused = darts(Execution::Fused, ops.clone());
        let mut reference = darts(Execution::PerEdge, ops.clone());
        same_state(&fused, &reference);
        for net in [&mut fused as &mut dyn Supernet, &mut reference] {
            // Normal cell: step 0's edges decided (sep_conv_3x3 from s0) and pruned; reduction
            // cell: one edge from s1 decided, so s1's other out-edges stack without it.
            set_states(net, &[(0, 0, EdgeState::Fixed(4)), (0, 1, EdgeState::Pruned), (1, 4, EdgeState::Fixed(2))]);
        }
        compare(&format!("darts {kind:?} ({ops})"), &fused, &reference, kind);
    }
}

/// Worst per-tensor error of `got` against the f64 `exact`, each tensor scaled by its own largest
/// entry, floored at 1e-3 of the largest entry overall: a gradient that is zero in exact arithmetic
/// (a conv bias under batch-statistics BN) is rounding noise, measured on the scale of the rest.
fn worst_error(got: &[Tensor], exact: &[Tensor]) -> f64 {
    let floor = 1e-3 * max_abs(exact);
    let error = |(g, e): (&Tensor, &Tensor)| {
        let scale = e.abs().max().double_value(&[]).max(floor);
        (g.to_kind(Kind::Double) - e).abs().max().double_value(&[]) / scale
    };
    got.iter().zip(exact).filter(|(_, e)| e.defined()).map(error).fold(0.0, f64::max)
}

/// The worst relative error of an f32 net's first-order gradients (weights and α, training mode)
/// and of its HVPs, against `exact`: the same net in f64.
fn f32_accuracy(net: &dyn ImageSupernet, exact: &dyn ImageSupernet) -> (f64, f64) {
    let (x, y) = batch(6, 1);
    let (xv, yv) = batch(6, 2);
    let double = |t: &Tensor| t.to_kind(Kind::Double);
    let grads = worst_error(&first_order(net, &x, &y, true).1, &first_order(exact, &double(&x), &y, true).1);
    let hvps = worst_error(&hvp(net, &xv, &yv), &hvp(exact, &double(&xv), &yv));
    (grads, hvps)
}

/// Fusion must cost no accuracy in f32. Against the f64 truth both forms' errors move by a few
/// times with the weights and the order of their sums (the same run reorders them), so the fused
/// form's may exceed the per-edge form's by rounding luck, but not by an order of magnitude (floored at
/// 1e-5, where both are at f32's resolution for these nets).
fn assert_as_accurate<N: ImageSupernet>(label: &str, fused: &N, per_edge: &N, exact: &N) {
    same_state(fused, per_edge);
    copy_state(exact, per_edge);
    exact.convert_to(Kind::Double);
    let (fused_grads, fused_hvps) = f32_accuracy(fused, exact);
    let (edge_grads, edge_hvps) = f32_accuracy(per_edge, exact);
    println!("{label}: f32 error vs f64, gradients fused {fused_grads:.2e} per-edge {edge_grads:.2e}; HVP fused {fused_hvps:.2e} per-edge {edge_hvps:.2e}");
    assert!(
        fused_grads <= 10.0 * edge_grads.max(1e-5),
        "{label}: fused gradients {fused_grads:.2e} vs per-edge {edge_grads:.2e}"
    );
    assert!(
        fused_hvps <= 10.0 * edge_hvps.max(1e-5),
        "{label}: fused HVPs {fused_hvps:.2e} vs per-edge {edge_hvps:.2e}"
    );
}

#[test]
fn in_f32_the_fused_form_is_as_accurate_as_the_per_edge_form() {
    let nets = [
        nb201(Execution::Fused, true, false),
        nb201(Execution::PerEdge, true, false),
        nb201(Execution::PerEdge, true, false),
    ];
    assert_as_accurate("nb201", &nets[0], &nets[1], &nets[2]);
    for ops in [OpSet::sgas_es(), OpSet::darts()] {
        let label = format!("darts {ops}");
        let nets = [
            darts(Execution::Fused, ops.clone()),
            darts(Execution::PerEdge, ops.clone()),
            darts(Execution::PerEdge, ops),
        ];
        assert_as_accurate(&label, &nets[0], &nets[1], &nets[2]);
    }
}

#[test]
fn the_fused_darts_supernet_takes_hvps_in_nchw_and_returns_to_its_training_form() {
    let fused = darts(Execution::Fused, OpSet::sgas_es());
    let reference = darts(Execution::PerEdge, OpSet::sgas_es());
    same_state(&fused, &reference);
    let (x, y) = batch(6, 1);
    let (xv, yv) = batch(6, 2);
    let (out_before, grads_before) = first_order(&fused, &x, &y, true);
    let channels_last = hvp(&fused, &xv, &yv);
    let nchw = {
        let _form = SecondOrderForm::enter(&fused);
        hvp(&fused, &xv, &yv)
    };
    // Other kernels ran (NCHW instead of channels-last), and they compute the per-edge form's HVP
    // up to the stacked kernels' rounding.
    assert!(nchw.iter().zip(&channels_last).any(|(a, b)| !a.equal(b)), "the probe form ran the same kernels");
    for (i, (hf, hr)) in nchw.iter().zip(hvp(&reference, &xv, &yv)).enumerate() {
        assert_close(&format!("NCHW fused HVP row {i}"), hf, &hr);
    }
    // Training passes after the probe are those before it, bit for bit (train-mode BN uses the
    // batch's statistics, so the running statistics the probe updated do not enter).
    let (out_after, grads_after) = first_order(&fused, &x, &y, true);
    assert!(out_after.equal(&out_before));
    assert_eq!(grads_after.len(), grads_before.len());
    for (a, b) in grads_after.iter().zip(&grads_before).filter(|(a, _)| a.defined()) {
        assert!(a.equal(b), "a gradient changed across the probe");
    }
    let after = hvp(&fused, &xv, &yv);
    assert!(after.iter().zip(&channels_last).all(|(a, b)| a.equal(b)), "channels-last again after the probe");
}
