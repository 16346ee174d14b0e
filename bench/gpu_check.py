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

LD_LIBRARY_PATH is pointed at the lib folder of the torch that python3 imports, whose
libtorch_cuda.so oxnas loads at start-up.
"""
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


def throughput(env, out, work):
    res = open(os.path.join(out, "throughput.jsonl"), "a")
    for space in ("nb201", "darts"):
        for execution in ("fused", "per-edge"):
            d = os.path.join(work, "tp-%s-%s" % (space, execution))
            cmd = run_all.oxnas_search_cmd(space, d, 2 * STEPS * run_all.BATCH,
                                           ["--set", 'hessian.mode="off"', "--set", "optim.epochs=2",
                                            "--set", 'supernet.execution="%s"' % execution])
            cmd[0] = OX
            cmd[cmd.index("--device") + 1] = DEVICE
            try:
                run(cmd, env, os.path.join(out, "runs.log"), d)
                e = jsonl(os.path.join(d, "search.jsonl"))
                row = dict(framework="oxnas", space=space, execution=execution, images_per_s=e[-1]["images_per_s"],
                           first_epoch_images_per_s=e[0]["images_per_s"])
            except Exception as ex:  # noqa: BLE001
                row = dict(framework="oxnas", space=space, execution=execution, error=str(ex))
            print(json.dumps(row), flush=True)
            res.write(json.dumps(row) + "\n")
        for ag in ("backward", "alphas"):
            cmd = [sys.executable, os.path.join(ROOT, "bench", "pytorch", "search_step.py"), "--space", space,
                   "--warmup", "5", "--steps", str(STEPS), "--batch-size", str(run_all.BATCH),
                   "--threads", os.environ["THREADS"], "--alpha-grad", ag, "--device", DEVICE]
            try:
                stdout, _ = run(cmd, env, os.path.join(out, "runs.log"))
                r = json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])
                row = dict(framework="pytorch", space=space, alpha_grad=ag, images_per_s=r["images_per_s"],
                           images_per_s_incl_warmup=r["images_per_s_incl_warmup"])
            except Exception as ex:  # noqa: BLE001
                row = dict(framework="pytorch", space=space, alpha_grad=ag, error=str(ex))
            print(json.dumps(row), flush=True)
            res.write(json.dumps(row) + "\n")
    res.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/gpu-check"
    work = os.environ.get("GPU_WORK", "/tmp/oxnas-gpu-check")
    os.makedirs(out, exist_ok=True)
    os.makedirs(work, exist_ok=True)
    env, info = torch_env()
    print(json.dumps(info), flush=True)
    parts = os.environ.get("GPU_PARTS", "agreement throughput").split()
    if "agreement" in parts:
        agreement(env, out, work)
    if "throughput" in parts:
        throughput(env, out, work)


if __name__ == "__main__":
    main()
