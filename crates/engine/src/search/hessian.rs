//! Dominant Hessian eigenvalue of the validation loss w.r.t. alpha.
//!
//! This is the early-stopping signal of DARTS-ES and SGAS-es (docs/algorithms.md#hessian; automl/RobustDARTS `analyze.py`): the largest
//! eigenvalue of `H = ∇²_α L_val + wd_α·I`, where α are only the *undecided* architecture
//! parameters (those still with `requires_grad`) and `wd_α` is the α weight decay. The references
//! fold the decay into the gradient (`g = ∂L/∂α + wd_α·α`), which is where the `+ wd_α·I` comes from.
//!
//! "Largest" means largest *algebraic* eigenvalue (`max(eigvals(H))` in the references), not largest
//! magnitude: a strongly negative eigenvalue must not be mistaken for a sharp maximum.
//!
//! Every product with `H` is exact (double back-propagation), never a finite difference. The loss
//! closure is evaluated once per call and its first-order graph (built with `create_graph`) is
//! reused for every Hessian-vector product, so one minibatch defines one Hessian.
//!
//! # Modes and their cost
//! `n` is the number of undecided α entries: up to 14 edges × 5 ops × 2 cells = 140 in SGAS-es's
//! reduced DARTS space (224 for the full 8-op DARTS space of RobustDARTS).
//! - [`EigenMethod::Full`]: what the references do. Builds all `n` rows, i.e. `n` second
//!   backward passes (each costs about one HVP), then a dense `eigvalsh`. Exact up to round-off;
//!   cost grows linearly in `n` and dominates a search epoch when `n` is large.
//! - [`EigenMethod::Lanczos`]: Krylov iteration on HVPs with full reorthogonalisation; typically
//!   `k ≪ n` HVPs for a well separated top eigenvalue, and never more than `n` (at `k = n` the
//!   Krylov space is the whole space and the answer is exact).
//!
//! Both also pay one forward pass and one `create_graph` backward pass per call; the
//! [`HessianReport::hvps`] count excludes them.

use std::time::Instant;

use oxnas_core::config::EigenMethod;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Device, Kind, TchError, Tensor};
use thiserror::Error;

/// Everything that can go wrong while probing the Hessian.
#[derive(Debug, Error)]
pub enum HessianError {
    #[error("the Hessian probe got no architecture parameters (the α list is empty or holds no entries)")]
    NoAlphas,
    #[error("α tensor {index} does not require grad; pass only the undecided α, each with requires_grad set")]
    AlphaWithoutGrad { index: usize },
    #[error("α tensor {index} has kind {kind:?}; the Hessian needs floating-point α")]
    AlphaNotFloat { index: usize, kind: Kind },
    #[error("the loss closure returned an undefined tensor")]
    LossUndefined,
    #[error("the loss must be a scalar (one element), got shape {shape:?}")]
    LossNotScalar { shape: Vec<i64> },
    #[error("the loss does not require grad, so it cannot depend on α (built under no_grad, or from detached α?)")]
    LossDetached,
    #[error("the loss does not depend on α tensor {index}; a frozen or stale α was passed as undecided")]
    AlphaUnused { index: usize },
    #[error("non-finite value in {what}")]
    NonFinite { what: String },
    #[error("the direction has {got} tensors, expected one per α tensor ({expected})")]
    DirectionCount { expected: usize, got: usize },
    #[error("direction tensor {index} has shape {got:?}, but α tensor {index} has shape {expected:?}")]
    DirectionShape { index: usize, expected: Vec<i64>, got: Vec<i64> },
    #[error("invalid Hessian probe setting: {0}")]
    InvalidSetting(String),
    #[error(transparent)]
    Torch(#[from] TchError),
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HessianReport {
    /// Largest algebraic eigenvalue of `∇²_α L + wd·I`.
    pub lambda_max: f64,
    pub mode: EigenMethod,
    /// Number of α entries the Hessian is taken over.
    pub dim: usize,
    /// Cost in Hessian-vector products (a Full row counts as one).
    pub hvps: usize,
    /// Wall-clock time including the forward and first-order backward pass.
    pub seconds: f64,
    /// False when an iterative mode ran out of `iters` before meeting `tol`.
    pub converged: bool,
    /// The unit eigenvector estimate of `lambda_max` (Lanczos: the top Ritz vector; empty for Full),
    /// flattened as the α are, for starting the next Lanczos run near it.
    #[serde(skip)]
    pub vector: Vec<f64>,
}

/// Exact second-order probe of a loss w.r.t. the undecided α.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HessianProbe {
    weight_decay: f64,
}

impl HessianProbe {
    /// `weight_decay` is the α weight decay (1e-3 in the references), added as `wd·I`.
    pub fn new(weight_decay: f64) -> Result<Self, HessianError> {
        if !weight_decay.is_finite() {
            return Err(HessianError::InvalidSetting(format!("α weight decay must be finite, got {weight_decay}")));
        }
        Ok(Self { weight_decay })
    }

    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    /// `H·v`, one tensor per α tensor, in α's kind, device and shape. `v` is used as a constant
    /// direction (any graph it carries is ignored).
    pub fn hvp(
        &self,
        loss_fn: &mut dyn FnMut() -> Tensor,
        alphas: &[Tensor],
        v: &[Tensor],
    ) -> Result<Vec<Tensor>, HessianError> {
        let layout = Layout::of(alphas)?;
        let dirs = layout.align(v)?;
        let graph = Graph::build(loss_fn, alphas, layout, self.weight_decay)?;
        let out = graph.hvp_tensors(&dirs)?;
        for (i, t) in out.iter().enumerate() {
            ensure_finite(&to_f64_vec(t)?, || format!("Hessian-vector product (α tensor {i})"))?;
        }
        Ok(out)
    }

    /// The dense `n × n` Hessian (f64, CPU), α entries flattened tensor by tensor in the order of
    /// `alphas`, symmetrised as `(H + Hᵀ)/2`.
    ///
    /// Rows come from separate backward passes, so they disagree with the columns only by
    /// round-off; averaging removes that so `eigvalsh` sees an exactly symmetric matrix. (The
    /// references compute only the upper triangle and mirror it, then call the general `eigvals`;
    /// both differ from this by round-off only.)
    pub fn full_hessian(&self, loss_fn: &mut dyn FnMut() -> Tensor, alphas: &[Tensor]) -> Result<Tensor, HessianError> {
        let layout = Layout::of(alphas)?;
        let graph = Graph::build(loss_fn, alphas, layout, self.weight_decay)?;
        let raw = graph.raw_hessian()?;
        symmetric_tensor(&raw, graph.layout.n)
    }

    /// The dominant (largest algebraic) eigenvalue of the Hessian, by `mode`; `seed` fixes the
    /// Lanczos start vector, so runs are reproducible.
    pub fn lambda_max(
        &self,
        loss_fn: &mut dyn FnMut() -> Tensor,
        alphas: &[Tensor],
        mode: EigenMethod,
        seed: u64,
    ) -> Result<HessianReport, HessianError> {
        self.lambda_max_from(loss_fn, alphas, mode, seed, None)
    }

    /// [`HessianProbe::lambda_max`] with Lanczos started near `warm` (a previous probe's
    /// [`HessianReport::vector`] on the same α layout) instead of at a random vector.
    ///
    /// A tenth of a random unit vector (from `seed`) is mixed in: started exactly on an eigenvector,
    /// Lanczos would stop at once with that eigenpair, and where the top eigenvector has changed
    /// since (two eigenvalues crossing, the sharpening early stopping watches for) it would report
    /// the old one. The random part keeps every direction in the Krylov space and a residual large
    /// enough to go on until the top is found.
    pub fn lambda_max_from(
        &self,
        loss_fn: &mut dyn FnMut() -> Tensor,
        alphas: &[Tensor],
        mode: EigenMethod,
        seed: u64,
        warm: Option<&[f64]>,
    ) -> Result<HessianReport, HessianError> {
        if let EigenMethod::Lanczos { iters, tol } = mode {
            if iters == 0 {
                return Err(HessianError::InvalidSetting("iters must be at least 1".into()));
            }
            if !(tol.is_finite() && tol >= 0.0) {
                return Err(HessianError::InvalidSetting(format!("tol must be finite and non-negative, got {tol}")));
            }
        }
        let start = Instant::now();
        let layout = Layout::of(alphas)?;
        let graph = Graph::build(loss_fn, alphas, layout, self.weight_decay)?;
        let n = graph.layout.n;
        let mut hvps = 0usize;
        let ritz = match mode {
            EigenMethod::Full => {
                let h = symmetric_tensor(&graph.raw_hessian()?, n)?;
                hvps = n;
                let eig = Vec::<f64>::try_from(&h.f_linalg_eigvalsh("L")?)?;
                Ritz { value: eig.last().copied().unwrap_or(f64::NAN), vector: vec![], converged: true }
            }
            EigenMethod::Lanczos { iters, tol } => {
                let mut op = |x: &[f64]| {
                    hvps += 1;
                    graph.hvp_flat(x)
                };
                let first = match warm.filter(|w| w.len() == n && norm(w) > 0.0) {
                    Some(w) => mixed_start(w, seed),
                    None => start_vector(n, seed),
                };
                lanczos_top(n, &mut op, iters, tol, first)?
            }
        };
        ensure_finite(&[ritz.value], || "the dominant eigenvalue".to_string())?;
        Ok(HessianReport {
            lambda_max: ritz.value,
            mode,
            dim: n,
            hvps,
            seconds: start.elapsed().as_secs_f64(),
            converged: ritz.converged,
            vector: ritz.vector,
        })
    }
}

/// Shapes of the α tensors and where each sits in the flattened vector.
#[derive(Debug, Clone)]
struct Layout {
    shapes: Vec<Vec<i64>>,
    numels: Vec<usize>,
    kinds: Vec<Kind>,
    devices: Vec<Device>,
    n: usize,
}

impl Layout {
    fn of(alphas: &[Tensor]) -> Result<Self, HessianError> {
        let mut layout = Layout { shapes: vec![], numels: vec![], kinds: vec![], devices: vec![], n: 0 };
        for (index, a) in alphas.iter().enumerate() {
            if !a.defined() {
                return Err(HessianError::AlphaWithoutGrad { index });
            }
            let kind = a.f_kind()?;
            if !a.is_floating_point() {
                return Err(HessianError::AlphaNotFloat { index, kind });
            }
            if !a.requires_grad() {
                return Err(HessianError::AlphaWithoutGrad { index });
            }
            let shape = a.size();
            let numel = shape.iter().product::<i64>().max(0) as usize;
            layout.n += numel;
            layout.shapes.push(shape);
            layout.numels.push(numel);
            layout.kinds.push(kind);
            layout.devices.push(a.device());
        }
        if layout.n == 0 {
            return Err(HessianError::NoAlphas);
        }
        Ok(layout)
    }

    /// Direction tensors moved to each α's kind and device and cut off from any graph, so that
    /// the second backward pass differentiates only through the first-order gradient.
    fn align(&self, v: &[Tensor]) -> Result<Vec<Tensor>, HessianError> {
        if v.len() != self.shapes.len() {
            return Err(HessianError::DirectionCount { expected: self.shapes.len(), got: v.len() });
        }
        let mut out = Vec::with_capacity(v.len());
        for (index, t) in v.iter().enumerate() {
            let got = if t.defined() { t.size() } else { vec![] };
            if !t.defined() || got != self.shapes[index] {
                return Err(HessianError::DirectionShape { index, expected: self.shapes[index].clone(), got });
            }
            out.push(t.f_detach()?.f_to_device(self.devices[index])?.f_to_kind(self.kinds[index])?);
        }
        Ok(out)
    }

    fn split(&self, x: &[f64]) -> Result<Vec<Tensor>, HessianError> {
        let mut out = Vec::with_capacity(self.shapes.len());
        let mut off = 0;
        for i in 0..self.shapes.len() {
            let part = Tensor::f_from_slice(&x[off..off + self.numels[i]])?
                .f_reshape(self.shapes[i].as_slice())?
                .f_to_kind(self.kinds[i])?
                .f_to_device(self.devices[i])?;
            out.push(part);
            off += self.numels[i];
        }
        Ok(out)
    }

    /// Concatenates per-α results; an undefined tensor is autograd's way of saying "zero".
    fn flatten(&self, parts: &[Tensor]) -> Result<Vec<f64>, HessianError> {
        let mut out = Vec::with_capacity(self.n);
        for (i, p) in parts.iter().enumerate() {
            if p.defined() {
                out.extend(to_f64_vec(p)?);
            } else {
                out.extend(std::iter::repeat_n(0.0, self.numels[i]));
            }
        }
        Ok(out)
    }
}

/// One evaluated loss with its differentiable first-order gradient.
struct Graph<'a> {
    alphas: &'a [Tensor],
    layout: Layout,
    /// `∂L/∂α_i` with a graph attached where it still depends on α (without the decay term,
    /// which is added analytically).
    grads: Vec<Tensor>,
    weight_decay: f64,
}

impl<'a> Graph<'a> {
    fn build(
        loss_fn: &mut dyn FnMut() -> Tensor,
        alphas: &'a [Tensor],
        layout: Layout,
        weight_decay: f64,
    ) -> Result<Self, HessianError> {
        let loss = loss_fn();
        if !loss.defined() {
            return Err(HessianError::LossUndefined);
        }
        let shape = loss.size();
        if shape.iter().product::<i64>() != 1 {
            return Err(HessianError::LossNotScalar { shape });
        }
        if !loss.requires_grad() {
            return Err(HessianError::LossDetached);
        }
        ensure_finite(&[loss.f_double_value(&[])?], || "the loss value".to_string())?;
        // Engine-level grad with explicit inputs: nothing is accumulated into any `.grad()`, so
        // neither the network weights nor α see a trace of the probe. keep_graph because every
        // HVP walks back through the forward graph again.
        let grads = Tensor::f_run_backward(&[&loss], alphas, true, true)?;
        for (index, g) in grads.iter().enumerate() {
            if !g.defined() {
                return Err(HessianError::AlphaUnused { index });
            }
        }
        Ok(Graph { alphas, layout, grads, weight_decay })
    }

    /// Second backward pass of `Σ_i ⟨g_i, v_i⟩`; `dirs` are already aligned with α.
    fn hvp_tensors(&self, dirs: &[Tensor]) -> Result<Vec<Tensor>, HessianError> {
        let mut dot: Option<Tensor> = None;
        for (g, v) in self.grads.iter().zip(dirs) {
            // A gradient without a graph is constant in α (the loss is linear in that α), so it
            // contributes nothing to the curvature.
            if !g.requires_grad() {
                continue;
            }
            let term = g.f_mul(v)?.f_sum(None::<Kind>)?;
            dot = Some(match dot {
                None => term,
                Some(acc) => acc.f_add(&term)?,
            });
        }
        let second = match dot {
            Some(d) => Tensor::f_run_backward(&[&d], self.alphas, true, false)?,
            None => (0..dirs.len()).map(|_| Tensor::new()).collect(),
        };
        let mut out = Vec::with_capacity(dirs.len());
        for (s, v) in second.iter().zip(dirs) {
            let decay = v.f_mul_scalar(self.weight_decay)?;
            out.push(if s.defined() { s.f_add(&decay)? } else { decay });
        }
        Ok(out)
    }

    fn hvp_flat(&self, x: &[f64]) -> Result<Vec<f64>, HessianError> {
        let parts = self.hvp_tensors(&self.layout.split(x)?)?;
        let y = self.layout.flatten(&parts)?;
        ensure_finite(&y, || "a Hessian-vector product".to_string())?;
        Ok(y)
    }

    /// Row-major `n × n`, unsymmetrised: row `j` is the gradient of `g_j`, as in the references.
    fn raw_hessian(&self) -> Result<Vec<f64>, HessianError> {
        let n = self.layout.n;
        let mut h = Vec::with_capacity(n * n);
        let mut j = 0usize;
        for (g, &numel) in self.grads.iter().zip(&self.layout.numels) {
            let flat = if g.requires_grad() { Some(g.f_reshape([-1])?) } else { None };
            for local in 0..numel {
                let mut row = match &flat {
                    Some(f) => {
                        let entry = f.f_get(local as i64)?;
                        let parts = Tensor::f_run_backward(&[&entry], self.alphas, true, false)?;
                        self.layout.flatten(&parts)?
                    }
                    None => vec![0.0; n],
                };
                row[j] += self.weight_decay;
                ensure_finite(&row, || format!("Hessian row {j}"))?;
                h.extend(row);
                j += 1;
            }
        }
        Ok(h)
    }
}

fn symmetric_tensor(raw: &[f64], n: usize) -> Result<Tensor, HessianError> {
    let mut sym = vec![0.0; n * n];
    for r in 0..n {
        for c in 0..n {
            sym[r * n + c] = 0.5 * (raw[r * n + c] + raw[c * n + r]);
        }
    }
    Ok(Tensor::f_from_slice(&sym)?.f_reshape([n as i64, n as i64])?)
}

fn to_f64_vec(t: &Tensor) -> Result<Vec<f64>, HessianError> {
    let flat = t.f_detach()?.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?.f_contiguous()?.f_reshape([-1])?;
    Ok(Vec::<f64>::try_from(&flat)?)
}

fn ensure_finite(xs: &[f64], what: impl FnOnce() -> String) -> Result<(), HessianError> {
    if xs.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(HessianError::NonFinite { what: what() })
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// A reproducible random unit vector: a fixed start keeps λmax traces comparable between runs, and a
/// random one is (almost surely) not orthogonal to the top eigenvector.
fn start_vector(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    let s = norm(&x);
    if s > 0.0 {
        x.iter_mut().for_each(|v| *v /= s);
    } else {
        x[0] = 1.0;
    }
    x
}

type MatVec<'a> = dyn FnMut(&[f64]) -> Result<Vec<f64>, HessianError> + 'a;

/// `warm` (normalised) plus a tenth of a random unit vector, normalised.
fn mixed_start(warm: &[f64], seed: u64) -> Vec<f64> {
    let (scale, noise) = (norm(warm), start_vector(warm.len(), seed));
    let mut x: Vec<f64> = warm.iter().zip(&noise).map(|(w, r)| w / scale + 0.1 * r).collect();
    let s = norm(&x);
    x.iter_mut().for_each(|v| *v /= s);
    x
}

/// The top two eigenvalues of a symmetric tridiagonal matrix and the unit eigenvector of the top.
struct TridiagTop {
    value: f64,
    /// The second largest eigenvalue; `None` for a 1×1 matrix.
    second: Option<f64>,
    vector: Vec<f64>,
}

/// [`TridiagTop`] of the symmetric tridiagonal matrix with diagonal `a` and off-diagonal `b`.
fn top_eig_tridiag(a: &[f64], b: &[f64]) -> Result<TridiagTop, HessianError> {
    let k = a.len();
    let mut t = vec![0.0; k * k];
    for i in 0..k {
        t[i * k + i] = a[i];
        if i + 1 < k {
            t[i * k + i + 1] = b[i];
            t[(i + 1) * k + i] = b[i];
        }
    }
    // eigh sorts ascending: the last eigenvalue and the last column are the top pair.
    let (values, vectors) = Tensor::f_from_slice(&t)?.f_reshape([k as i64, k as i64])?.f_linalg_eigh("L")?;
    let values = Vec::<f64>::try_from(&values)?;
    let vector = Vec::<f64>::try_from(&vectors.f_select(1, k as i64 - 1)?.f_contiguous()?)?;
    let value = values.last().copied().unwrap_or(f64::NAN);
    let second = values.len().checked_sub(2).map(|i| values[i]);
    Ok(TridiagTop { value, second, vector })
}

/// The estimated error of the top Ritz value `top`, from its residual norm and the Ritz gap.
///
/// For a Ritz value θ with residual `r`, some eigenvalue lies within `r` of θ, and once θ is
/// separated from the rest of the spectrum by a gap δ the error shrinks to `r²/δ` (Kato–Temple).
/// The true gap is unknown, so the gap between the top two Ritz values stands in for it. That gap
/// converges from above while the Krylov space is small, so the estimate can be optimistic early
/// on; the default tolerance sits an order of magnitude below the accuracy it is meant to deliver.
fn eigenvalue_error(residual: f64, top: f64, second: Option<f64>) -> f64 {
    match second {
        Some(s) if top > s => residual.min(residual * residual / (top - s)),
        _ => residual,
    }
}

/// The top Ritz pair of a Lanczos run.
struct Ritz {
    value: f64,
    vector: Vec<f64>,
    converged: bool,
}

/// `Σ_i s_i · basis_i`: a Ritz vector from its coordinates in the Krylov basis.
fn combine(basis: &[Vec<f64>], s: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; basis.first().map_or(0, Vec::len)];
    for (b, &c) in basis.iter().zip(s) {
        y.iter_mut().zip(b).for_each(|(yi, bi)| *yi += c * bi);
    }
    y
}

/// Lanczos from the unit vector `q` until the top Ritz value θ has an estimated relative error
/// [`eigenvalue_error`]` ≤ tol · |θ|`, the Krylov space is invariant, or `iters` products were spent.
///
/// The residual `‖H y − θ y‖` of the Ritz vector y is free: it is `β_k · |s_k|`, the next
/// off-diagonal times the last coordinate of y in the Krylov basis. Stopping on the residual alone
/// asks for an accurate eigenvector; the eigenvalue converges quadratically faster (the `r²/δ` term),
/// which is what the early-stopping indicator reads. The vector returned for the next warm start is
/// therefore less polished than the value, which the random part mixed into a warm start tolerates.
fn lanczos_top(n: usize, op: &mut MatVec, iters: usize, tol: f64, mut q: Vec<f64>) -> Result<Ritz, HessianError> {
    let mut basis: Vec<Vec<f64>> = Vec::new();
    let (mut diag, mut off) = (Vec::new(), Vec::new());
    let mut top = TridiagTop { value: f64::NAN, second: None, vector: vec![] };
    let mut scale = 0.0f64;
    for _ in 0..iters.min(n) {
        let mut w = op(&q)?;
        let a = dot(&q, &w);
        basis.push(q);
        diag.push(a);
        // Projecting out the whole basis (twice, "twice is enough") replaces the three-term
        // recurrence: in floating point the recurrence alone loses orthogonality and produces
        // spurious copies of the top Ritz value.
        for _ in 0..2 {
            for b in &basis {
                let c = dot(b, &w);
                w.iter_mut().zip(b).for_each(|(wi, bi)| *wi -= c * bi);
            }
        }
        let beta = norm(&w);
        scale = scale.max(a.abs()).max(beta);
        top = top_eig_tridiag(&diag, &off)?;
        let residual = beta * top.vector.last().map_or(0.0, |s| s.abs());
        // At β≈0 the Krylov space is invariant, so its Ritz values are exact eigenvalues.
        let invariant = beta <= 1e-12 * scale;
        let exhausted = basis.len() == n;
        let error = eigenvalue_error(residual, top.value, top.second);
        let small = error <= tol * top.value.abs().max(f64::MIN_POSITIVE);
        if invariant || exhausted || small {
            return Ok(Ritz { value: top.value, vector: combine(&basis, &top.vector), converged: true });
        }
        off.push(beta);
        q = w.into_iter().map(|x| x / beta).collect();
    }
    Ok(Ritz { value: top.value, vector: combine(&basis, &top.vector), converged: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(rng: &mut ChaCha8Rng, shape: &[i64], scale: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let v: Vec<f64> = (0..n).map(|_| scale * rng.random_range(-1.0..1.0)).collect();
        Tensor::from_slice(&v).reshape(shape)
    }

    fn leaf(values: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(values).reshape(shape).set_requires_grad(true)
    }

    fn matrix(t: &Tensor) -> Vec<Vec<f64>> {
        Vec::<Vec<f64>>::try_from(&t.to_kind(Kind::Double)).unwrap()
    }

    fn flat(ts: &[Tensor]) -> Vec<f64> {
        ts.iter().flat_map(|t| to_f64_vec(t).unwrap()).collect()
    }

    fn rel_err(a: &[f64], b: &[f64]) -> f64 {
        let d: f64 = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
        d / norm(b).max(1e-300)
    }

    /// Symmetric `Q diag(eigs) Qᵀ` with a random orthogonal `Q`, so the spectrum is known exactly.
    fn spectrum_matrix(eigs: &[f64], seed: u64) -> Tensor {
        spectrum_probe(eigs, seed).0
    }

    fn quadratic_loss(a: &Tensor, m: &Tensor, b: Option<&Tensor>) -> Tensor {
        let quad = a.dot(&m.mv(a)) * 0.5;
        match b {
            Some(b) => quad + b.dot(a),
            None => quad,
        }
    }

    #[test]
    fn quadratic_hessian_is_a_plus_decay_across_tensor_boundaries() {
        let wd = 1e-3;
        let eigs = [3.0, -1.5, 0.7, 2.2, -0.4, 1.1, 0.05];
        let m = spectrum_matrix(&eigs, 11);
        let b = Tensor::from_slice(&[0.3, -0.2, 0.5, 0.1, 0.0, -0.7, 0.9]);
        // Two α tensors of different shapes: the flattening order must be tensor by tensor.
        let alphas = [leaf(&[0.1, -0.2, 0.3], &[3]), leaf(&[0.4, 0.5, -0.6, 0.7], &[2, 2])];
        let mut f = || {
            let a = Tensor::cat(&[alphas[0].reshape([-1]), alphas[1].reshape([-1])], 0);
            quadratic_loss(&a, &m, Some(&b))
        };
        let probe = HessianProbe::new(wd).unwrap();
        let h = matrix(&probe.full_hessian(&mut f, &alphas).unwrap());
        let mm = matrix(&m);
        for r in 0..7 {
            for c in 0..7 {
                let want = mm[r][c] + if r == c { wd } else { 0.0 };
                assert!((h[r][c] - want).abs() < 1e-12, "H[{r}][{c}] = {} vs {want}", h[r][c]);
            }
        }
        let v = [Tensor::from_slice(&[1.0, 2.0, -1.0]), Tensor::from_slice(&[0.5, 0.0, -3.0, 1.5]).reshape([2, 2])];
        let hv = probe.hvp(&mut f, &alphas, &v).unwrap();
        assert_eq!(hv[1].size(), vec![2, 2]);
        let vflat = flat(&v);
        let want: Vec<f64> = (0..7).map(|r| dot(&mm[r], &vflat) + wd * vflat[r]).collect();
        assert!(rel_err(&flat(&hv), &want) < 1e-12);
        let full = probe.lambda_max(&mut f, &alphas, EigenMethod::Full, 0).unwrap();
        assert!((full.lambda_max - (3.0 + wd)).abs() < 1e-12, "{full:?}");
        assert_eq!((full.dim, full.hvps), (7, 7));
    }

    #[test]
    fn softmax_nll_hessian_is_diag_p_minus_ppt() {
        let wd = 1e-3;
        let raw = [0.3, -1.2, 0.8, 0.05, -0.4];
        let k = 2;
        let alpha = [leaf(&raw, &[5])];
        let mut f = || -alpha[0].log_softmax(0, Kind::Double).get(k as i64);
        let probe = HessianProbe::new(wd).unwrap();
        let h = matrix(&probe.full_hessian(&mut f, &alpha).unwrap());
        let mx = raw.iter().cloned().fold(f64::MIN, f64::max);
        let z: f64 = raw.iter().map(|x| (x - mx).exp()).sum();
        let p: Vec<f64> = raw.iter().map(|x| (x - mx).exp() / z).collect();
        for r in 0..5 {
            for c in 0..5 {
                let want = if r == c { p[r] + wd } else { 0.0 } - p[r] * p[c];
                assert!((h[r][c] - want).abs() < 1e-14, "H[{r}][{c}] = {} vs {want}", h[r][c]);
            }
        }
        // The all-ones direction leaves softmax unchanged, so only the decay remains there.
        let ones = [Tensor::ones([5], (Kind::Double, Device::Cpu))];
        let hv = flat(&probe.hvp(&mut f, &alpha, &ones).unwrap());
        assert!(hv.iter().all(|x| (x - wd).abs() < 1e-14), "{hv:?}");
    }

    #[test]
    fn linear_loss_leaves_only_the_decay() {
        let alpha = [leaf(&[1.0, 2.0, 3.0], &[3])];
        let b = Tensor::from_slice(&[0.5, -1.0, 2.0]);
        let mut f = || alpha[0].dot(&b);
        let probe = HessianProbe::new(0.25).unwrap();
        let h = matrix(&probe.full_hessian(&mut f, &alpha).unwrap());
        for (r, row) in h.iter().enumerate() {
            for (c, &x) in row.iter().enumerate() {
                assert_eq!(x, if r == c { 0.25 } else { 0.0 });
            }
        }
        let rep = probe.lambda_max(&mut f, &alpha, EigenMethod::Lanczos { iters: 10, tol: 1e-10 }, 1).unwrap();
        assert!((rep.lambda_max - 0.25).abs() < 1e-14 && rep.converged, "{rep:?}");
    }

    /// Two mixed edges of three fixed linear+ReLU ops each, a linear head and an f64 cross-entropy.
    struct TinyNet {
        x: Tensor,
        y: Tensor,
        edges: Vec<Vec<(Tensor, Tensor)>>,
        head: Tensor,
    }

    impl TinyNet {
        fn new(seed: u64) -> Self {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (batch, d, classes) = (6, 5, 3);
            let x = uniform(&mut rng, &[batch, d], 1.0);
            let y = Tensor::from_slice(&[0i64, 2, 1, 1, 0, 2]);
            // Weights require grad like real network parameters, so a leak into .grad() would show.
            let edges = (0..2)
                .map(|_| {
                    (0..3)
                        .map(|_| {
                            let w = uniform(&mut rng, &[d, d], 0.9).set_requires_grad(true);
                            let b = uniform(&mut rng, &[d], 0.3).set_requires_grad(true);
                            (w, b)
                        })
                        .collect()
                })
                .collect();
            let head = uniform(&mut rng, &[d, classes], 1.5).set_requires_grad(true);
            TinyNet { x, y, edges, head }
        }

        fn weights(&self) -> Vec<&Tensor> {
            let mut all: Vec<&Tensor> = self.edges.iter().flatten().flat_map(|(w, b)| [w, b]).collect();
            all.push(&self.head);
            all
        }

        fn loss(&self, alphas: &[Tensor]) -> Tensor {
            let mut h = self.x.shallow_clone();
            for (edge, a) in self.edges.iter().zip(alphas) {
                let p = a.softmax(-1, Kind::Double);
                let mut mixed = h.zeros_like();
                for (k, (w, b)) in edge.iter().enumerate() {
                    mixed += (h.matmul(w) + b).relu() * p.get(k as i64);
                }
                h = mixed;
            }
            h.matmul(&self.head).log_softmax(-1, Kind::Double).nll_loss(&self.y)
        }

        fn alphas() -> [Tensor; 2] {
            [leaf(&[0.2, -0.1, 0.4], &[3]), leaf(&[-0.3, 0.5, 0.1], &[3])]
        }
    }

    /// `∂L/∂α + wd·α` at the given α, the quantity the references differentiate.
    fn decayed_grad(net: &TinyNet, alphas: &[Tensor], wd: f64) -> Vec<f64> {
        let loss = net.loss(alphas);
        let g = Tensor::run_backward(&[&loss], alphas, false, false);
        flat(&g).iter().zip(flat(alphas)).map(|(g, a)| g + wd * a).collect()
    }

    #[test]
    fn tiny_supernet_hvp_matches_central_difference() {
        let wd = 1e-3;
        let net = TinyNet::new(7);
        let alphas = TinyNet::alphas();
        let probe = HessianProbe::new(wd).unwrap();
        let v = [Tensor::from_slice(&[0.7, -0.2, 0.4]), Tensor::from_slice(&[-0.5, 0.9, 0.3])];
        let hv = flat(&probe.hvp(&mut || net.loss(&alphas), &alphas, &v).unwrap());

        let step = 1e-5;
        let shifted = |sign: f64| -> Vec<Tensor> {
            alphas.iter().zip(&v).map(|(a, d)| (a.detach() + d * (sign * step)).set_requires_grad(true)).collect()
        };
        let (plus, minus) = (shifted(1.0), shifted(-1.0));
        let (gp, gm) = (decayed_grad(&net, &plus, wd), decayed_grad(&net, &minus, wd));
        let fd: Vec<f64> = gp.iter().zip(&gm).map(|(p, m)| (p - m) / (2.0 * step)).collect();
        let err = rel_err(&hv, &fd);
        println!("tiny supernet HVP vs f64 central difference: relative error {err:e}");
        assert!(norm(&fd) > 1e-3, "degenerate test problem: {fd:?}");
        assert!(err < 1e-6, "HVP vs central difference: relative error {err:e}\n{hv:?}\n{fd:?}");

        // Rows and columns come from different backward passes; they may differ only by round-off.
        let graph = Graph::build(&mut || net.loss(&alphas), &alphas, Layout::of(&alphas).unwrap(), wd).unwrap();
        let raw = graph.raw_hessian().unwrap();
        let n = 6;
        let big = raw.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        let asym = (0..n * n).map(|i| (raw[i] - raw[(i % n) * n + i / n]).abs()).fold(0.0, f64::max);
        assert!(asym <= 1e-12 * big, "asymmetry {asym:e} of max entry {big:e}");
        // The Full matrix applied to v must reproduce the HVP.
        let h = matrix(&probe.full_hessian(&mut || net.loss(&alphas), &alphas).unwrap());
        let vflat = flat(&v);
        let hv_dense: Vec<f64> = h.iter().map(|row| dot(row, &vflat)).collect();
        assert!(rel_err(&hv_dense, &hv) < 1e-12);
    }

    #[test]
    fn full_and_lanczos_agree_on_tiny_supernet() {
        let net = TinyNet::new(7);
        let alphas = TinyNet::alphas();
        let probe = HessianProbe::new(1e-3).unwrap();
        let mut f = || net.loss(&alphas);
        // A first probe absorbs libtorch's one-off start-up, so the printed times compare the modes.
        probe.lambda_max(&mut f, &alphas, EigenMethod::Full, 0).unwrap();
        let full = probe.lambda_max(&mut f, &alphas, EigenMethod::Full, 0).unwrap();
        let lanczos = probe.lambda_max(&mut f, &alphas, EigenMethod::Lanczos { iters: 20, tol: 1e-8 }, 3).unwrap();
        println!(
            "tiny supernet n={}: Full λ={:.9} {} rows {:.6}s | Lanczos λ={:.9} {} HVPs {:.6}s",
            full.dim, full.lambda_max, full.hvps, full.seconds, lanczos.lambda_max, lanczos.hvps, lanczos.seconds,
        );
        let rel = |x: f64| (x - full.lambda_max).abs() / full.lambda_max.abs();
        assert!(lanczos.converged && rel(lanczos.lambda_max) < 1e-3, "{lanczos:?} vs {full:?}");
        assert!(lanczos.hvps <= full.dim);
    }

    #[test]
    fn lanczos_finds_the_algebraic_top_of_a_random_30_dim_problem() {
        let wd = 1e-3;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        // The most negative eigenvalue is the largest in magnitude: a magnitude-based answer fails.
        let mut eigs: Vec<f64> = (0..28).map(|_| rng.random_range(-4.0..4.0)).collect();
        eigs.extend([5.0, -7.0]);
        let m = spectrum_matrix(&eigs, 6);
        let alpha = [leaf(&(0..30).map(|i| 0.01 * i as f64).collect::<Vec<_>>(), &[30])];
        let mut f = || quadratic_loss(&alpha[0], &m, None);
        let probe = HessianProbe::new(wd).unwrap();
        let want = 5.0 + wd;
        let full = probe.lambda_max(&mut f, &alpha, EigenMethod::Full, 0).unwrap();
        assert!((full.lambda_max - want).abs() < 1e-10, "{full:?}");
        let lanczos = probe.lambda_max(&mut f, &alpha, EigenMethod::Lanczos { iters: 30, tol: 1e-10 }, 9).unwrap();
        assert!((lanczos.lambda_max - full.lambda_max).abs() < 1e-3 * full.lambda_max, "{lanczos:?}");
    }

    #[test]
    fn lanczos_needs_far_fewer_hvps_than_rows_when_the_top_is_separated() {
        let n = 200;
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let mut eigs: Vec<f64> = (0..n - 1).map(|_| rng.random_range(-2.0..2.0)).collect();
        eigs.push(10.0);
        let m = spectrum_matrix(&eigs, 9);
        let alpha = [leaf(&vec![0.0; n], &[n as i64])];
        let mut f = || quadratic_loss(&alpha[0], &m, None);
        let probe = HessianProbe::new(0.0).unwrap();
        let rep = probe.lambda_max(&mut f, &alpha, EigenMethod::Lanczos { iters: 100, tol: 1e-9 }, 2).unwrap();
        assert!(rep.converged && (rep.lambda_max - 10.0).abs() < 1e-6, "{rep:?}");
        assert!(rep.hvps < 40, "{rep:?}");
    }

    /// The quadratic 0.5·aᵀMa with M of the given spectrum (eigenvectors the columns of a random
    /// orthogonal Q, returned too), as a probe's loss.
    fn spectrum_probe(eigs: &[f64], seed: u64) -> (Tensor, Tensor) {
        let n = eigs.len() as i64;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (q, _) = Tensor::linalg_qr(&uniform(&mut rng, &[n, n], 1.0), "reduced");
        let m = (&q * Tensor::from_slice(eigs).unsqueeze(0)).matmul(&q.tr());
        ((&m + m.tr()) * 0.5, q)
    }

    /// 30 α with a spectrum shaped like a search's: top 0.229, next 0.142, the rest in [-0.05, 0.06].
    fn search_like() -> (Tensor, Tensor, [Tensor; 1]) {
        let mut eigs: Vec<f64> = (0..28).map(|i| -0.05 + 0.004 * i as f64).collect();
        eigs.extend([0.142, 0.229]);
        let (m, q) = spectrum_probe(&eigs, 4);
        (m, q, [leaf(&vec![0.0; 30], &[30])])
    }

    /// `‖M y − θ y‖` of a unit vector y, θ its Rayleigh quotient: the residual of an approximate pair.
    fn residual_of(m: &Tensor, y: &[f64]) -> (f64, f64) {
        let y = Tensor::from_slice(y);
        let my = m.mv(&y);
        let theta = my.dot(&y).double_value(&[]);
        ((my - &y * theta).norm().double_value(&[]), theta)
    }

    /// Kato–Temple by hand: residual 0.01 and a Ritz gap of 0.1 give 0.01²/0.1 = 1e-3; a residual
    /// larger than the gap falls back to the residual; with one Ritz value there is no gap.
    #[test]
    fn the_error_estimate_is_the_residual_squared_over_the_ritz_gap() {
        assert!((eigenvalue_error(0.01, 0.5, Some(0.4)) - 1e-3).abs() < 1e-15);
        assert_eq!(eigenvalue_error(0.3, 0.5, Some(0.4)), 0.3);
        assert_eq!(eigenvalue_error(0.01, 0.5, None), 0.01);
        assert_eq!(eigenvalue_error(0.01, 0.5, Some(0.5)), 0.01);
    }

    /// At the default tolerance (1e-4) λmax is within 1e-3 (relative) of the exact value on a
    /// 30-entry spectrum shaped like a search's, and the Ritz vector returned is the top eigenvector.
    /// The stop comes from the eigenvalue's quadratic convergence: when Lanczos stops, the vector's
    /// residual is still well above `tol · θ`, which a residual-only rule would have waited for.
    #[test]
    fn the_error_rule_stops_on_the_eigenvalue_before_the_vector() {
        let (m, q, alpha) = search_like();
        let mut f = || quadratic_loss(&alpha[0], &m, None);
        let probe = HessianProbe::new(0.0).unwrap();
        let rep = probe.lambda_max(&mut f, &alpha, EigenMethod::Lanczos { iters: 30, tol: 1e-4 }, 5).unwrap();
        assert!(rep.converged && (rep.lambda_max - 0.229).abs() < 1e-3 * 0.229, "{rep:?}");
        let top: Vec<f64> = Vec::try_from(q.select(1, 29)).unwrap();
        let overlap: f64 = rep.vector.iter().zip(&top).map(|(a, b)| a * b).sum();
        assert!((rep.vector.iter().map(|v| v * v).sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(overlap.abs() > 0.99, "overlap with the top eigenvector {overlap}");
        let (residual, theta) = residual_of(&m, &rep.vector);
        assert!((theta - rep.lambda_max).abs() < 1e-12, "Rayleigh quotient {theta} vs {}", rep.lambda_max);
        assert!(residual > 1e-4 * theta, "residual {residual} already met the residual-only rule");
        let tighter = probe.lambda_max(&mut f, &alpha, EigenMethod::Lanczos { iters: 30, tol: 1e-8 }, 5).unwrap();
        assert!(tighter.hvps > rep.hvps && (tighter.lambda_max - 0.229).abs() < 1e-8, "{tighter:?}");
    }

    /// Started from the previous top eigenvector, Lanczos needs fewer products than from a random
    /// vector; and where that vector has become the second eigenvector (the top has changed), it
    /// still finds the new top instead of stopping on the old one.
    #[test]
    fn a_warm_start_saves_products_and_survives_a_changed_top() {
        let (m, q, alpha) = search_like();
        let mut f = || quadratic_loss(&alpha[0], &m, None);
        let probe = HessianProbe::new(0.0).unwrap();
        let lanczos = EigenMethod::Lanczos { iters: 30, tol: 1e-4 };
        let cold = probe.lambda_max(&mut f, &alpha, lanczos, 5).unwrap();
        let near_top: Vec<f64> = Vec::try_from(q.select(1, 29) + q.select(1, 3) * 0.05).unwrap();
        let warm = probe.lambda_max_from(&mut f, &alpha, lanczos, 5, Some(&near_top)).unwrap();
        assert!((warm.lambda_max - 0.229).abs() < 1e-3 * 0.229, "{warm:?}");
        assert!(warm.hvps < cold.hvps, "warm {} vs cold {} products", warm.hvps, cold.hvps);
        let old_top: Vec<f64> = Vec::try_from(q.select(1, 28)).unwrap();
        let moved = probe.lambda_max_from(&mut f, &alpha, lanczos, 5, Some(&old_top)).unwrap();
        assert!((moved.lambda_max - 0.229).abs() < 1e-3 * 0.229, "{moved:?}");
        // A start of the wrong length or zero is ignored: the random start.
        let ignored = probe.lambda_max_from(&mut f, &alpha, lanczos, 5, Some(&[1.0, 0.0])).unwrap();
        assert_eq!((ignored.lambda_max, ignored.hvps), (cold.lambda_max, cold.hvps));
    }

    #[test]
    fn the_probe_leaves_every_grad_untouched() {
        let net = TinyNet::new(3);
        let alphas = TinyNet::alphas();
        let probe = HessianProbe::new(1e-3).unwrap();
        let v = [Tensor::ones([3], (Kind::Double, Device::Cpu)), Tensor::ones([3], (Kind::Double, Device::Cpu))];
        let run_all = || {
            let mut f = || net.loss(&alphas);
            probe.hvp(&mut f, &alphas, &v).unwrap();
            assert_eq!(probe.full_hessian(&mut f, &alphas).unwrap().size(), vec![6, 6]);
            for mode in [EigenMethod::Full, EigenMethod::Lanczos { iters: 6, tol: 1e-9 }] {
                probe.lambda_max(&mut f, &alphas, mode, 0).unwrap();
            }
        };
        run_all();
        for t in net.weights().into_iter().chain(&alphas) {
            assert!(!t.grad().defined(), "the probe wrote a .grad()");
        }
        // With gradients already present (mid-training), they must come out bit-identical.
        net.loss(&alphas).backward();
        let tracked: Vec<&Tensor> = net.weights().into_iter().chain(&alphas).collect();
        let before: Vec<Vec<f64>> = tracked.iter().map(|t| to_f64_vec(&t.grad()).unwrap()).collect();
        run_all();
        for (t, b) in tracked.iter().zip(&before) {
            assert_eq!(&to_f64_vec(&t.grad()).unwrap(), b, "the probe changed an existing .grad()");
        }
    }

    #[test]
    fn bad_inputs_are_named_errors() {
        let probe = HessianProbe::new(1e-3).unwrap();
        let a = leaf(&[0.1, 0.2, 0.3], &[3]);
        let alphas = [a.shallow_clone()];
        let lanczos = EigenMethod::Lanczos { iters: 5, tol: 1e-6 };

        let err = probe.full_hessian(&mut || &a * &a, &alphas).unwrap_err();
        assert!(matches!(&err, HessianError::LossNotScalar { shape } if shape == &vec![3]), "{err}");
        assert!(err.to_string().contains("scalar"));

        let err = probe.lambda_max(&mut || (&a * &a).sum(None::<Kind>), &[], EigenMethod::Full, 0).unwrap_err();
        assert!(matches!(err, HessianError::NoAlphas), "{err}");

        let frozen = [Tensor::from_slice(&[1.0, 2.0])];
        let err = probe.full_hessian(&mut || frozen[0].sum(None::<Kind>), &frozen).unwrap_err();
        assert!(matches!(err, HessianError::AlphaWithoutGrad { index: 0 }), "{err}");

        let other = leaf(&[1.0], &[1]);
        let two = [a.shallow_clone(), other.shallow_clone()];
        let err = probe.lambda_max(&mut || (&a * &a).sum(None::<Kind>), &two, lanczos, 0).unwrap_err();
        assert!(matches!(err, HessianError::AlphaUnused { index: 1 }), "{err}");

        let err = probe.full_hessian(&mut || (&a * &a).sum(None::<Kind>).detach(), &alphas).unwrap_err();
        assert!(matches!(err, HessianError::LossDetached), "{err}");

        let err = probe.full_hessian(&mut || (&a * f64::NAN).sum(None::<Kind>), &alphas).unwrap_err();
        assert!(matches!(&err, HessianError::NonFinite { what } if what.contains("loss")), "{err}");

        // sqrt(‖a‖²) at a = 0 has a finite value but a 0/0 gradient.
        let zero = [leaf(&[0.0, 0.0], &[2])];
        let err = probe.full_hessian(&mut || (&zero[0] * &zero[0]).sum(None::<Kind>).sqrt(), &zero).unwrap_err();
        assert!(matches!(err, HessianError::NonFinite { .. }), "{err}");

        let mut f = || (&a * &a).sum(None::<Kind>);
        let err = probe.hvp(&mut f, &alphas, &[Tensor::from_slice(&[1.0, 2.0])]).unwrap_err();
        assert!(matches!(err, HessianError::DirectionShape { index: 0, .. }), "{err}");
        let err = probe.hvp(&mut f, &alphas, &[]).unwrap_err();
        assert!(matches!(err, HessianError::DirectionCount { expected: 1, got: 0 }), "{err}");

        let err = probe.lambda_max(&mut f, &alphas, EigenMethod::Lanczos { iters: 0, tol: 1e-6 }, 0).unwrap_err();
        assert!(matches!(err, HessianError::InvalidSetting(_)), "{err}");
        assert!(HessianProbe::new(f64::NAN).is_err());
    }

    #[test]
    fn report_serialises_with_the_mode() {
        let rep = HessianReport {
            lambda_max: 1.5,
            mode: EigenMethod::Lanczos { iters: 20, tol: 1e-4 },
            dim: 140,
            hvps: 12,
            seconds: 0.25,
            converged: true,
            vector: vec![0.6, 0.8],
        };
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["mode"]["kind"], "lanczos");
        assert_eq!(json["mode"]["iters"], 20);
        assert_eq!(json["hvps"], 12);
        assert_eq!(json["lambda_max"], 1.5);
    }
}
