#!/usr/bin/env python3
"""The GPU checks, as one script for a CUDA machine (the binary built elsewhere and brought along).

    python3 bench/gpu_check.py OUT_DIR         # OX: the oxnas binary (default target/release/oxnas)

1. Agreement: tiny `search` (cpu-demo: 4 epochs, 512 images, a decision every epoch, warm Lanczos
   λmax), `train` (cpu-smoke, 1 epoch) and `supernet train` (cpu-nb201, 2 epochs) with `--device cpu`
   and `--device cuda` on the same seed. Weights and α are initialised on the CPU whatever the device,
   so the two runs start from the same numbers and differ only by the kernels' rounding (cuDNN
   convolutions may use TF32). Every logged number must be finite; the per-epoch losses, accuracies
   and λmax are compared as relative differences (agreement.json).
2. Throughput: the search-step workload of bench/run_all.py (first-order bilevel step, batch 64,
   1x28x28, NB201 C = 16 with 5 cells per stage, DARTS SGAS-es 5-op C = 16 with 8 cells) on the GPU:
   oxnas fused and per-edge (the second epoch's images/s, after a first epoch that warms cuDNN up),
   against bench/pytorch/search_step.py on the reference path and the α-only path (after 5 warm-up
   steps). One JSON line per run in throughput.jsonl, a summary on stdout.
3. Same state (`state`): one set of weights evaluated on both devices, where no training can amplify
   rounding: λmax of a search checkpoint (full Hessian and Lanczos), a trained model's test logits, a
   supernet's scores of 50 cells; checked against TOLERANCE (state.json, `verdict`).
4. Batch scaling (`scaling`): the fused step and PyTorch's at batch 256, to tell launch-bound from
   compute-bound.
5. CUDA graphs (`graphs`): PyTorch's step captured as one graph against its eager step.
GPU_PARTS picks parts (default all: "agreement state throughput scaling graphs"); `state` reads the CPU
runs that `agreement` leaves in GPU_WORK.

LD_LIBRARY_PATH is pointed at the lib folder of the torch that python3 imports, whose
libtorch_cuda.so oxnas loads at start-up.
"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
os.environ.setdefault("THREADS", "4")
import run_all  # noqa: E402  (its search command, so that the workload is the CPU benchmark's)

OX = os.environ.get("OX", os.path.join(ROOT, "target", "release", "oxnas"))
STEPS = int(os.environ.get("GPU_STEPS", "40"))
TIMEOUT = int(os.environ.get("GPU_TIMEOUT", "150"))
# The device compared with the CPU (cpu as well for a dry run of the script on a machine without a GPU).
DEVICE = os.environ.get("GPU_DEVICE", "cuda")


def torch_env():
    try:
        import torch
    except ImportError:  # a CPU-only dry run of the script: oxnas finds its own libtorch
        return dict(os.environ), dict(torch=None, gpu=None)
    lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    env = dict(os.environ, LD_LIBRARY_PATH=lib + ":" + os.environ.get("LD_LIBRARY_PATH", ""))
    return env, dict(torch=torch.__version__, gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)


def run(cmd, env, log, out_dir=None):
    """Runs `cmd`, logging its output; `out_dir` (its run directory) is removed first, so that a rerun
    of the script starts the runs afresh instead of meeting their old directories."""
    if out_dir:
        shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    wall = time.time() - t0
    with open(log, "a") as f:
        f.write("$ %s\n# rc=%d, %.1f s\n%s\n%s\n" % (" ".join(cmd), p.returncode, wall, p.stdout[-3000:], p.stderr[-3000:]))
    if p.returncode != 0:
        raise RuntimeError("rc=%d: %s" % (p.returncode, (p.stderr or p.stdout)[-600:]))
    return p.stdout, wall


def jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


TINY = {
    "search": (["search", "--preset", "cpu-demo", "--set", "optim.epochs=4", "--set", "decision.weight_warmup=1",
                "--set", "decision.frequency=1", "--set", "data.train_limit=512", "--set", "run.threads=4"],
               "search.jsonl", ["train_loss", "train_acc", "valid_loss", "valid_acc", "lambda_max"]),
    "train": (["train", "--preset", "cpu-smoke", "--set", "optim.epochs=1", "--set", "data.train_limit=1024",
               "--set", "data.test_limit=512", "--set", "run.threads=4"],
              "metrics.jsonl", ["train_loss", "train_acc", "test_loss", "test_acc"]),
    "supernet": (["supernet", "train", "--preset", "cpu-nb201", "--set", "optim.epochs=2", "--set", "data.train_limit=1024",
                  "--set", "track.sample=10", "--set", "track.eval_images=256", "--set", "run.threads=4"],
                 "supernet.jsonl", ["train_loss", "train_acc", "tau", "tracked_mean_acc"]),
}


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-12)


def agreement(env, out, work):
    rows = {}
    for name, (args, file, keys) in TINY.items():
        recs = {}
        for role, dev in (("cpu", "cpu"), ("gpu", DEVICE)):
            d = os.path.join(work, "%s-%s" % (name, role))
            try:
                _, wall = run([OX, *args, "--device", dev, "--out", d], env, os.path.join(out, "runs.log"), d)
                recs[role] = (jsonl(os.path.join(d, file)), wall)
            except Exception as e:  # noqa: BLE001 - reported, and the other checks go on
                recs[role] = (None, str(e))
        row = dict(wall_s={k: v[1] for k, v in recs.items()})
        cpu, cuda = recs["cpu"][0], recs["gpu"][0]
        if cpu is None or cuda is None:
            row["error"] = "a run failed (runs.log)"
        else:
            vals = [r.get(k) for r in cuda for k in keys if r.get(k) is not None]
            row["cuda_all_finite"] = all(math.isfinite(v) for v in vals)
            row["epochs"] = [len(cpu), len(cuda)]
            row["per_epoch"] = [{k: [c.get(k), g.get(k), rel(g[k], c[k]) if c.get(k) is not None and g.get(k) is not None else None]
                                 for k in keys} for c, g in zip(cpu, cuda)]
            if name == "search":
                row["genotype"] = [open(os.path.join(work, "search-%s" % d, "genotype.txt")).read().strip() for d in ("cpu", "gpu")]
                row["decisions"] = [[[(d["edge"], d["op"]) for d in r.get("decisions") or []] for r in x] for x in (cpu, cuda)]
        rows[name] = row
        print(json.dumps({name: {k: v for k, v in row.items() if k != "per_epoch"}}), flush=True)
    with open(os.path.join(out, "agreement.json"), "w") as f:
        json.dump(rows, f, indent=1)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def max_rel(pairs):
    return max((rel(g, c) for c, g in pairs), default=None)


# The λmax checks' searches: the cpu-demo supernet, and a DARTS one (SGAS-es ops, C = 4, 5 cells),
# whose fused form trains channels-last and takes its HVPs in NCHW.
HESSIAN_SPACES = {
    "nb201": [],
    "darts": ["--set", 'supernet.space="darts"', "--set", "supernet.channels=4", "--set", "supernet.layers=5",
              "--set", 'supernet.ops="sgas-es"', "--set", "optim.batch_size=32", "--set", 'hessian.mode="off"'],
}


def same_state(env, out, work):
    """The same weights evaluated on both devices, where nothing chaotic can amplify rounding: λmax and
    the top of the Hessian spectrum of one search checkpoint, a trained model's test logits, and a
    supernet's scores of 50 cells (same α batch, same test images, same cells). Reuses the CPU runs
    of the agreement part (state.json)."""
    log, rows = os.path.join(out, "runs.log"), {}
    for space, extra in HESSIAN_SPACES.items():
        s = os.path.join(work, "search-undecided-" + space)
        run([OX, "search", "--preset", "cpu-demo", *extra, "--set", 'decision.policy="argmax"', "--set", "early_stop=false",
             "--set", "optim.epochs=2", "--set", "data.train_limit=512", "--set", "run.threads=4", "--device", "cpu",
             "--out", s], env, log, s)
        for mode in ("full", "lanczos"):
            r = {}
            for dev in ("cpu", DEVICE):
                stdout, _ = run([OX, "hessian", "--run", s, "--mode", mode, "--device", dev, "--json"]
                                + (["--top", "3"] if mode == "full" else ["--tol", "1e-6"]), env, log)
                r[dev] = json.loads(stdout)
            rows["hessian_%s%s" % (mode, "" if space == "nb201" else "_" + space)] = dict(
                cpu=r["cpu"]["eigenvalues"], gpu=r[DEVICE]["eigenvalues"], hvps=[r["cpu"]["hvps"], r[DEVICE]["hvps"]],
                max_rel=max_rel(zip(r["cpu"]["eigenvalues"], r[DEVICE]["eigenvalues"])))
    t, r = os.path.join(work, "train-cpu"), {}
    for dev in ("cpu", DEVICE):
        logits = os.path.join(work, "logits-%s.csv" % dev)
        stdout, _ = run([OX, "eval", "--run", t, "--device", dev, "--json", "--logits", logits], env, log)
        r[dev] = (json.loads(stdout), read_csv(logits))
    lc = [float(v) for row in r["cpu"][1] for k, v in row.items() if k.startswith("logit_")]
    lg = [float(v) for row in r[DEVICE][1] for k, v in row.items() if k.startswith("logit_")]
    scale = max(abs(v) for v in lc)
    rows["eval"] = dict(test_loss=[r["cpu"][0]["test_loss"], r[DEVICE][0]["test_loss"]],
                        test_acc=[r["cpu"][0]["test_acc"], r[DEVICE][0]["test_acc"]],
                        logits=len(lc), max_abs_logit=scale,
                        max_logit_diff_over_max_logit=max(abs(a - b) for a, b in zip(lc, lg)) / scale)
    n, sc = os.path.join(work, "supernet-cpu"), {}
    for dev in ("cpu", DEVICE):
        f = os.path.join(work, "scores-%s.csv" % dev)
        run([OX, "supernet", "score", "--run", n, "--archs", "sample:50", "--eval-images", "512", "--device", dev,
             "--out", f], env, log)
        sc[dev] = {row["arch_str"]: (float(row["score"]), float(row["loss"])) for row in read_csv(f)}
    keys = sorted(sc["cpu"])
    rows["supernet_score"] = dict(cells=len(keys),
                                  cells_same_accuracy=sum(sc["cpu"][k][0] == sc[DEVICE][k][0] for k in keys),
                                  max_abs_accuracy_diff_pct=max(abs(sc["cpu"][k][0] - sc[DEVICE][k][0]) for k in keys),
                                  max_rel_loss=max_rel((sc["cpu"][k][1], sc[DEVICE][k][1]) for k in keys))
    rows["verdict"] = verdict(rows)
    print(json.dumps(rows), flush=True)
    with open(os.path.join(out, "state.json"), "w") as f:
        json.dump(rows, f, indent=1)


# Same weights, same data: what the two devices' kernels may differ by. cuDNN convolutions may run in
# TF32 (10 mantissa bits), which puts single evaluations about 1e-4 apart; λmax goes through two
# backward passes and Lanczos, hence the looser bound; a supernet score is an accuracy over 512
# images, where a logit that close to a tie may flip one or two of them.
TOLERANCE = dict(lambda_max_rel=2e-3, eval_loss_rel=1e-4, logit_diff_over_max=1e-3, score_pct=0.5, score_loss_rel=1e-4)


def verdict(rows):
    lambdas = [(r["gpu"][0], r["cpu"][0]) for k, r in rows.items() if k.startswith("hessian_")]
    checks = dict(
        lambda_max_rel=all(rel(g, c) <= TOLERANCE["lambda_max_rel"] for g, c in lambdas),
        eval_loss_rel=rel(*reversed(rows["eval"]["test_loss"])) <= TOLERANCE["eval_loss_rel"],
        logit_diff_over_max=rows["eval"]["max_logit_diff_over_max_logit"] <= TOLERANCE["logit_diff_over_max"],
        score_pct=rows["supernet_score"]["max_abs_accuracy_diff_pct"] <= TOLERANCE["score_pct"],
        score_loss_rel=rows["supernet_score"]["max_rel_loss"] <= TOLERANCE["score_loss_rel"])
    return dict(tolerance=TOLERANCE, passed=checks, all_passed=all(checks.values()))


def emit(res, row):
    print(json.dumps(row), flush=True)
    res.write(json.dumps(row) + "\n")


def oxnas_step(env, out, work, space, images, extra, tags):
    """One oxnas run of the search-step workload on DEVICE (two epochs, λmax off): its second epoch's
    images/s, after a first that warms cuDNN up."""
    d = os.path.join(work, "tp-" + "-".join([space] + [str(v) for v in tags.values()]))
    cmd = run_all.oxnas_search_cmd(space, d, images, ["--set", 'hessian.mode="off"', "--set", "optim.epochs=2", *extra])
    cmd[0] = OX
    cmd[cmd.index("--device") + 1] = DEVICE
    row = dict(framework="oxnas", space=space, **tags)
    try:
        run(cmd, env, os.path.join(out, "runs.log"), d)
        e = jsonl(os.path.join(d, "search.jsonl"))
        row.update(images_per_s=e[-1]["images_per_s"], first_epoch_images_per_s=e[0]["images_per_s"])
    except Exception as ex:  # noqa: BLE001 - reported, and the other runs go on
        row.update(error=str(ex))
    return row


def pytorch_step(env, out, space, batch, alpha_grad, tags, extra=()):
    """One bench/pytorch/search_step.py run on DEVICE (after 5 warm-up steps)."""
    cmd = [sys.executable, os.path.join(ROOT, "bench", "pytorch", "search_step.py"), "--space", space,
           "--warmup", "5", "--steps", str(STEPS), "--batch-size", str(batch),
           "--threads", os.environ["THREADS"], "--alpha-grad", alpha_grad, "--device", DEVICE, *extra]
    row = dict(framework="pytorch", space=space, alpha_grad=alpha_grad, **tags)
    try:
        stdout, _ = run(cmd, env, os.path.join(out, "runs.log"))
        r = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])
        row.update(images_per_s=r["images_per_s"], images_per_s_incl_warmup=r["images_per_s_incl_warmup"])
    except Exception as ex:  # noqa: BLE001
        row.update(error=str(ex))
    return row


def throughput(env, out, work):
    with open(os.path.join(out, "throughput.jsonl"), "a") as res:
        for space in ("nb201", "darts"):
            for execution in ("fused", "per-edge"):
                emit(res, oxnas_step(env, out, work, space, 2 * STEPS * run_all.BATCH,
                                     ["--set", 'supernet.execution="%s"' % execution], dict(execution=execution)))
            for ag in ("backward", "alphas"):
                emit(res, pytorch_step(env, out, space, run_all.BATCH, ag, {}))


def batch_scaling(env, out, work):
    """Whether kernel launches dominate: the fused step and PyTorch's α-only step at batch 256 against
    batch 64 (throughput.jsonl). Launch-bound work gains close to 4x in images/s from 4x the batch;
    compute-bound work gains little. 11 steps an epoch fit in the 6,000 embedded images."""
    big = 256
    with open(os.path.join(out, "throughput.jsonl"), "a") as res:
        for space in ("nb201", "darts"):
            emit(res, oxnas_step(env, out, work, space, 2 * 11 * big, ["--set", "optim.batch_size=%d" % big],
                                 dict(execution="fused", batch=big)))
            emit(res, pytorch_step(env, out, space, big, "alphas", dict(batch=big)))


def cuda_graphs(env, out, work):
    """What capturing the whole step as one CUDA graph buys PyTorch on this workload (batch 64), against
    its eager α-only step in the same run (throughput.jsonl)."""
    with open(os.path.join(out, "throughput.jsonl"), "a") as res:
        for space in ("nb201", "darts"):
            for graph in (False, True):
                emit(res, pytorch_step(env, out, space, run_all.BATCH, "alphas", dict(cuda_graph=graph),
                                       ["--cuda-graph"] if graph else []))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/gpu-check"
    work = os.environ.get("GPU_WORK", "/tmp/oxnas-gpu-check")
    os.makedirs(out, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    env, info = torch_env()
    print(json.dumps(info), flush=True)
    parts = os.environ.get("GPU_PARTS", "agreement state throughput scaling graphs").split()
    if "agreement" in parts:
        agreement(env, out, work)
    if "state" in parts:
        same_state(env, out, work)
    if "throughput" in parts:
        throughput(env, out, work)
    if "scaling" in parts:
        batch_scaling(env, out, work)
    if "graphs" in parts:
        cuda_graphs(env, out, work)


if __name__ == "__main__":
    main()
