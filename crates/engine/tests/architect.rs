//! The second-order α gradient (finite-difference mixed term) against an independent, exact
//! computation: autograd straight through the unrolled step w′(α) = w − ξ(μm + ∇_w L_train + λw).

use oxnas_engine::search::architect::{cross_entropy, ImageLosses, Unrolled};
use oxnas_engine::search::{ArchCell, ImageSupernet, Supernet};
use oxnas_engine::train::optim::{Sgd, SgdConfig};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// A two-layer toy supernet in f64: h = Σ_k softmax(α)_k · tanh(x W_kᵀ), logits = h Hᵀ.
struct Toy {
    vs: VarStore,
    arch: Vec<ArchCell>,
}

fn forward(x: &Tensor, ws: &[Tensor], head: &Tensor, alpha: &Tensor) -> Tensor {
    let p = alpha.softmax(-1, Kind::Double);
    let h =
        ws.iter().enumerate().map(|(k, w)| x.matmul(&w.tr()).tanh() * p.get(k as i64)).reduce(|a, b| a + b).unwrap();
    h.matmul(&head.tr())
}

impl Toy {
    fn new() -> Self {
        tch::manual_seed(3);
        let vs = VarStore::new(Device::Cpu);
        let root = vs.root();
        for k in 0..3 {
            let _ = root.var(&format!("w{k}"), &[5, 4], tch::nn::Init::Randn { mean: 0.0, stdev: 0.7 });
        }
        let _ = root.var("head", &[3, 5], tch::nn::Init::Randn { mean: 0.0, stdev: 0.7 });
        let mut vs = vs;
        vs.double();
        let alpha = Tensor::from_slice(&[0.3f64, -0.2, 0.5]).set_requires_grad(true);
        let arch =
            vec![ArchCell { name: "cell", alphas: vec![alpha], states: vec![oxnas_engine::search::EdgeState::Mixed] }];
        Toy { vs, arch }
    }
    fn w(&self) -> Vec<Tensor> {
        let v = self.vs.variables();
        (0..3).map(|k| v[&format!("w{k}")].shallow_clone()).collect()
    }
    fn head(&self) -> Tensor {
        self.vs.variables()["head"].shallow_clone()
    }
}

impl ImageSupernet for Toy {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        forward(x, &self.w(), &self.head(), &self.arch[0].alphas[0])
    }
}

impl Supernet for Toy {
    fn weights(&self) -> &VarStore {
        &self.vs
    }
    fn arch(&self) -> &[ArchCell] {
        &self.arch
    }
    fn arch_mut(&mut self) -> &mut [ArchCell] {
        &mut self.arch
    }
}

/// A training and a validation batch of 8 points in 3 classes.
fn batches() -> (Tensor, Tensor, Tensor, Tensor) {
    let xt = Tensor::randn([8, 4], (Kind::Double, Device::Cpu));
    let yt = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1]);
    let xv = Tensor::randn([8, 4], (Kind::Double, Device::Cpu));
    let yv = Tensor::from_slice(&[2i64, 1, 0, 2, 1, 0, 2, 1]);
    (xt, yt, xv, yv)
}

#[test]
fn second_order_gradient_matches_exact_unrolled_autograd() {
    let net = Toy::new();
    let (xt, yt, xv, yv) = batches();
    let (xi, mu, wd) = (0.3, 0.9, 3e-2);
    let mut opt =
        Sgd::new(SgdConfig { lr: xi, momentum: mu, weight_decay: wd, nesterov: false }, net.trainable_weights());
    // One real step so that momentum buffers exist and enter w′.
    opt.zero_grad();
    cross_entropy(&net.forward_t(&xt, true), &yt).backward();
    opt.step(xi);
    opt.zero_grad();
    let alpha = net.arch[0].alphas[0].shallow_clone();

    let before: Vec<Tensor> = opt.params().iter().map(|(_, t)| t.detach().copy()).collect();
    let mut losses = ImageLosses { net: &net, train: (&xt, &yt), valid: (&xv, &yv) };
    let unrolled = Unrolled { xi, w_opt: &opt, clip: None };
    let fd = unrolled.alpha_grads(&net.vs, std::slice::from_ref(&alpha), &mut losses);
    let fd = Vec::<f64>::try_from(&fd[0]).unwrap();

    // Exact: build w′ as a differentiable function of α and differentiate L_val(w′(α), α).
    let names: Vec<String> = opt.params().iter().map(|(n, _)| n.clone()).collect();
    let params: Vec<Tensor> = opt.params().iter().map(|(_, t)| t.shallow_clone()).collect();
    let loss_t = cross_entropy(&forward(&xt, &net.w(), &net.head(), &alpha), &yt);
    let g = Tensor::run_backward(&[loss_t], &params, true, true);
    let unrolled: Vec<Tensor> = params
        .iter()
        .zip(&g)
        .zip(opt.buffers())
        .map(|((p, g), m)| p.detach() - (m.as_ref().unwrap() * mu + g + p.detach() * wd) * xi)
        .collect();
    let pick = |n: &str| unrolled[names.iter().position(|x| x == n).unwrap()].shallow_clone();
    let ws: Vec<Tensor> = (0..3).map(|k| pick(&format!("w{k}"))).collect();
    let loss_v = cross_entropy(&forward(&xv, &ws, &pick("head"), &alpha), &yv);
    let exact =
        Vec::<f64>::try_from(&Tensor::run_backward(&[loss_v], &[alpha.shallow_clone()], false, false)[0]).unwrap();

    // The first-order gradient at w′ alone, to show the mixed term is not negligible here.
    let loss_v1 = cross_entropy(
        &forward(&xv, &ws.iter().map(|t| t.detach()).collect::<Vec<_>>(), &pick("head").detach(), &alpha),
        &yv,
    );
    let first =
        Vec::<f64>::try_from(&Tensor::run_backward(&[loss_v1], &[alpha.shallow_clone()], false, false)[0]).unwrap();

    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let rel = diff(&fd, &exact) / norm(&exact);
    let mixed = diff(&first, &exact) / norm(&exact);
    assert!(rel < 1e-4, "finite-difference second-order gradient off by {rel:.2e}: {fd:?} vs {exact:?}");
    assert!(mixed > 100.0 * rel, "test does not discriminate: mixed term {mixed:.2e} vs error {rel:.2e}");
    // The precedence bug `(p - n) / 2 * eps` would scale the mixed term by eps², far off.

    // The probe leaves the weights as it found them.
    for (b, (n, p)) in before.iter().zip(opt.params()) {
        assert!(b.equal(&p.detach()), "weight {n} changed by the second-order probe");
    }
}

fn norm_of(ts: &[Tensor]) -> f64 {
    ts.iter().map(|t| t.pow_tensor_scalar(2).sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt()
}

/// With a clip norm c (the recurrent reference): w′ = w − ξ(k·∇_w L_train + λw), k = min(1, c/‖∇_w‖),
/// and the mixed term is ξ·k·H_{αw}·clip(v). Checked against an exact Hessian-vector product from
/// double backward, with c small enough that both the training gradient and v are clipped.
#[test]
fn clipped_second_order_gradient_matches_its_exact_form() {
    let net = Toy::new();
    let (xt, yt, xv, yv) = batches();
    let (xi, wd) = (0.3, 3e-2);
    let opt = Sgd::new(SgdConfig { lr: xi, momentum: 0.0, weight_decay: wd, nesterov: false }, net.trainable_weights());
    let alpha = net.arch[0].alphas[0].shallow_clone();
    let names: Vec<String> = opt.params().iter().map(|(n, _)| n.clone()).collect();
    let params: Vec<Tensor> = opt.params().iter().map(|(_, t)| t.shallow_clone()).collect();
    let pick = |ts: &[Tensor], n: &str| ts[names.iter().position(|x| x == n).unwrap()].shallow_clone();
    let train_loss = |ws: &[Tensor]| {
        cross_entropy(
            &forward(&xt, &(0..3).map(|k| pick(ws, &format!("w{k}"))).collect::<Vec<_>>(), &pick(ws, "head"), &alpha),
            &yt,
        )
    };

    // The exact form, with c below both norms.
    let g: Vec<Tensor> = Tensor::run_backward(&[train_loss(&params)], &params, false, false);
    let w_prime_with = |k: f64| -> Vec<Tensor> {
        params
            .iter()
            .zip(&g)
            .map(|(p, g)| (p.detach() - (g * k + p.detach() * wd) * xi).set_requires_grad(true))
            .collect()
    };
    let val_loss = |ws: &[Tensor]| {
        cross_entropy(
            &forward(&xv, &(0..3).map(|k| pick(ws, &format!("w{k}"))).collect::<Vec<_>>(), &pick(ws, "head"), &alpha),
            &yv,
        )
    };
    let c = 0.5 * norm_of(&g).min(0.05);
    let k = (c / (norm_of(&g) + 1e-6)).min(1.0);
    assert!(k < 1.0, "the training gradient is clipped");
    let wp = w_prime_with(k);
    let mut inputs = vec![alpha.shallow_clone()];
    inputs.extend(wp.iter().map(|t| t.shallow_clone()));
    let gv = Tensor::run_backward(&[val_loss(&wp)], &inputs, false, false);
    let (d_alpha, v) = (gv[0].shallow_clone(), &gv[1..]);
    let v_norm = norm_of(v);
    assert!(v_norm > c, "v is clipped too ({v_norm} vs {c})");
    let vc: Vec<Tensor> = v.iter().map(|t| t * (c / (v_norm + 1e-6))).collect();
    let grads = Tensor::run_backward(&[train_loss(&params)], &params, true, true);
    let dot = grads.iter().zip(&vc).map(|(g, v)| (g * v).sum(Kind::Double)).reduce(|a, b| a + b).unwrap();
    let hv = Tensor::run_backward(&[dot], &[alpha.shallow_clone()], false, false)[0].shallow_clone();
    let exact = Vec::<f64>::try_from(&(d_alpha - hv * (xi * k))).unwrap();

    let mut losses = ImageLosses { net: &net, train: (&xt, &yt), valid: (&xv, &yv) };
    let fd =
        Unrolled { xi, w_opt: &opt, clip: Some(c) }.alpha_grads(&net.vs, std::slice::from_ref(&alpha), &mut losses);
    let fd = Vec::<f64>::try_from(&fd[0]).unwrap();
    let unclipped =
        Unrolled { xi, w_opt: &opt, clip: None }.alpha_grads(&net.vs, std::slice::from_ref(&alpha), &mut losses);
    let unclipped = Vec::<f64>::try_from(&unclipped[0]).unwrap();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let diff = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    let rel = diff(&fd, &exact) / norm(&exact);
    assert!(rel < 1e-4, "clipped second-order gradient off by {rel:.2e}: {fd:?} vs {exact:?}");
    assert!(diff(&unclipped, &exact) > 100.0 * diff(&fd, &exact), "clipping changes the result here");
}
