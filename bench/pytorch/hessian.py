"""Cost of λmax, the dominant eigenvalue of the α-Hessian of the validation loss (+ wd_α·I), in PyTorch,
with the supernets of bench/pytorch/supernets.py. Prints ONE JSON line.

  full     the references' path (RobustDARTS / SGAS-es): loss on one α batch, g = autograd.grad(loss, α,
           create_graph=True), then one autograd.grad(g_i, α, retain_graph=True) per α entry i (n rows),
           + wd·I, symmetrised, torch.linalg.eigvalsh, largest eigenvalue
  lanczos  the same first-order graph, then Lanczos with full re-orthogonalisation on exact
           Hessian-vector products (autograd.grad(<g, v>, α)), stopping when the top Ritz value moves by
           less than --tol (relative) or after --iters steps: the algorithm of oxnas's `lanczos` mode

Both times include the forward pass and the create_graph backward, as oxnas's `hessian_s` does.
`--full-rows K` computes only K rows and extrapolates the full-Hessian time to n rows (for the DARTS
space, where n = 140 rows take many minutes on 2 cores); the output marks it `full_extrapolated`.
Before timing, --train-steps bilevel steps (untimed, as in search_step.py) put the supernet and the
allocator in the state a search epoch leaves them in. Each mode is timed --repeats times on the same
batch; `*_s` is the first (what oxnas's one probe per epoch pays), `*_s_min` the fastest.

    python bench/pytorch/hessian.py --space nb201 --modes full,lanczos --threads 2
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cross_entropy, eval_transform, start  # noqa: E402
from supernets import build_search  # noqa: E402


def first_order(net, alphas, xv, yv):
    loss = cross_entropy(net(xv), yv)
    grads = torch.autograd.grad(loss, alphas, create_graph=True)
    return torch.cat([g.reshape(-1) for g in grads])


def full_lambda(net, alphas, xv, yv, wd, max_rows=0):
    """(λmax or None, n, rows computed, seconds). With 0 < max_rows < n only the first max_rows rows are
    computed and the time is extrapolated to n rows (every row is one second backward pass through the
    same graph, so rows cost alike): graph time + rows time * n / max_rows; λ is then None."""
    t0 = time.perf_counter()
    g = first_order(net, alphas, xv, yv)
    t1 = time.perf_counter()
    n = g.numel()
    k = n if max_rows <= 0 else min(max_rows, n)
    rows = []
    for i in range(k):
        row = torch.autograd.grad(g[i], alphas, retain_graph=True)
        rows.append(torch.cat([r.reshape(-1) for r in row]))
    if k < n:
        return None, n, k, (t1 - t0) + (time.perf_counter() - t1) * n / k
    h = torch.stack(rows).double() + wd * torch.eye(n, dtype=torch.float64)
    h = 0.5 * (h + h.T)
    lam = torch.linalg.eigvalsh(h)[-1].item()
    return lam, n, k, time.perf_counter() - t0


def lanczos_lambda(net, alphas, xv, yv, wd, iters, tol, seed):
    g = first_order(net, alphas, xv, yv)
    n = g.numel()
    hvps = 0

    def hvp(v):
        nonlocal hvps
        hvps += 1
        vt = torch.from_numpy(v).to(g.dtype)
        out = torch.autograd.grad((g * vt).sum(), alphas, retain_graph=True)
        return torch.cat([o.reshape(-1) for o in out]).double().numpy() + wd * v

    rng = np.random.default_rng(seed)
    q = rng.uniform(-1.0, 1.0, n)
    q /= np.linalg.norm(q)
    basis, diag, off = [], [], []
    prev, theta, scale = None, float("nan"), 0.0
    converged = False
    for _ in range(min(iters, n)):
        w = hvp(q)
        a = float(q @ w)
        basis.append(q)
        diag.append(a)
        B = np.stack(basis)
        for _ in range(2):  # full re-orthogonalisation, twice
            w = w - B.T @ (B @ w)
        beta = float(np.linalg.norm(w))
        scale = max(scale, abs(a), beta)
        t = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
        theta = float(np.linalg.eigvalsh(t)[-1])
        if beta <= 1e-12 * scale or len(basis) == n or (
                prev is not None and abs(theta - prev) <= tol * max(abs(theta), np.finfo(float).tiny)):
            converged = True
            break
        prev = theta
        off.append(beta)
        q = w / beta
    return theta, n, hvps, converged


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--space", choices=["nb201", "darts"], required=True)
    ap.add_argument("--modes", default="full,lanczos")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--ops", choices=["sgas-es", "darts"], default="sgas-es")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--train-steps", type=int, default=2, help="untimed bilevel steps first")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--iters", type=int, default=30, help="Lanczos steps at most (oxnas hessian.iters)")
    ap.add_argument("--tol", type=float, default=1e-5, help="Lanczos tolerance (oxnas hessian.tol)")
    ap.add_argument("--full-rows", type=int, default=0,
                    help="full mode: compute only this many Hessian rows and extrapolate the time to all n (0 = all)")
    ap.add_argument("--wd", type=float, default=1e-3, help="α weight decay, added as wd·I")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    images, labels, train_idx, valid_idx = start(a.threads, a.seed, 2 * max(a.train_steps, 1) * a.batch_size)
    net, weights, alphas, w_opt, a_opt = build_search(a)
    rng = np.random.default_rng(a.seed)
    vidx = None
    for s in range(a.train_steps):
        idx = train_idx[s * a.batch_size:(s + 1) * a.batch_size]
        vidx = rng.choice(valid_idx, size=a.batch_size, replace=False)
        x, y = eval_transform(images[idx]), torch.from_numpy(labels[idx])
        xv, yv = eval_transform(images[vidx]), torch.from_numpy(labels[vidx])
        a_opt.zero_grad(set_to_none=True)
        cross_entropy(net(xv), yv).backward()
        a_opt.step()
        w_opt.zero_grad(set_to_none=True)
        cross_entropy(net(x), y).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()
    if vidx is None:
        vidx = rng.choice(valid_idx, size=a.batch_size, replace=False)
    xv, yv = eval_transform(images[vidx]), torch.from_numpy(labels[vidx])  # the epoch's last α batch

    out = {"framework": "pytorch", "space": a.space, "threads": torch.get_num_threads(), "torch": torch.__version__}
    for mode in a.modes.split(","):
        secs = []
        for _ in range(a.repeats):
            t0 = time.perf_counter()
            if mode == "full":
                lam, n, k, dt = full_lambda(net, alphas, xv, yv, a.wd, a.full_rows)
                out.update(full_lambda=lam, dim=n, full_hvps=n, full_rows_computed=k, full_extrapolated=k < n)
                secs.append(dt)
            else:
                lam, n, hvps, conv = lanczos_lambda(net, alphas, xv, yv, a.wd, a.iters, a.tol, a.seed)
                out.update(lanczos_lambda=lam, dim=n, lanczos_hvps=hvps, lanczos_converged=conv)
                secs.append(time.perf_counter() - t0)
        out[mode + "_s"] = round(secs[0], 3)
        out[mode + "_s_min"] = round(min(secs), 3)
    if out.get("full_lambda") is not None and "lanczos_lambda" in out:
        out["lambda_rel_diff"] = abs(out["full_lambda"] - out["lanczos_lambda"]) / max(abs(out["full_lambda"]), 1e-300)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
