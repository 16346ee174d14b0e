"""Search-side benchmarks, oxnas vs PyTorch, on this machine's CPU. Run through bench/run_all.sh.

Workloads (WORKLOADS, space-separated; default all, in this order):
  search       bilevel search-step throughput, NB201 and DARTS (SGAS-es 5-op) supernets, batch 64
  hessian      seconds per λmax, full Hessian and Lanczos, NB201 (30 α) and DARTS 5-op (140 α)
  single_path  single-path supernet training (img/s) and scoring (archs/s): per space of SP_SPACES (default
               nb201: the NB201 sizes of SP_CONFIGS; darts, nb101, proxyless: the cpu-X presets' sizes)
  table        NAS-Bench-201 table: oxnas's embedded decode vs Python csv (and pandas if importable)
  loader       data loader images/s: oxnas Loader vs a torch DataLoader with per-image torch transforms
  lm           language-model retraining tokens/s, one epoch of the cpu-darts-rnn preset (DARTS_V2 cell,
               hidden 96, batch 64, bptt 35, embedded KJV corpus) vs bench/pytorch/lm_train.py; LM_REPS
  lm_search    recurrent search step tokens/s, one epoch of the cpu-darts-rnn search preset (argmax, λmax
               off) vs bench/pytorch/lm_search.py on the reference and the α-only path; LM_REPS
  demo         the README's main job, `oxnas search --preset cpu-demo`, wall time and max RSS

Every timed run waits for an idle machine first and records the CPU other processes used meanwhile
(bench/measured.py); a run disturbed by more than 0.2 cores is repeated (up to RETRIES times) and
marked * if it stays disturbed. oxnas and PyTorch alternate, oxnas first in odd repetitions.
Raw rows go to $BENCH_OUT/results.jsonl; the markdown summary to stdout (and $BENCH_OUT/summary.md).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from statistics import mean

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = os.environ.get("BENCH_PYTHON", os.path.join(ROOT, ".bench-venv", "bin", "python"))
OXNAS = os.environ.get("OXNAS", os.path.join(ROOT, "target", "release", "oxnas"))
THREADS = int(os.environ.get("THREADS", "2"))
REPS = int(os.environ.get("REPS", "2"))
RETRIES = int(os.environ.get("RETRIES", "1"))
WAIT_IDLE = os.environ.get("WAIT_IDLE", "0.3")
MAX_WAIT = os.environ.get("MAX_WAIT", "300")
NB201_STEPS = int(os.environ.get("NB201_STEPS", "8"))
DARTS_STEPS = int(os.environ.get("DARTS_STEPS", "4"))
DARTS_REPS = int(os.environ.get("DARTS_REPS", "1"))
SP_REPS = int(os.environ.get("SP_REPS", "1"))
LM_REPS = int(os.environ.get("LM_REPS", "1"))
DARTS_FULL_ROWS = int(os.environ.get("DARTS_FULL_ROWS", "10"))
OXNAS_DARTS_FULL = os.environ.get("OXNAS_DARTS_FULL", "0") == "1"
SP_STEPS = int(os.environ.get("SP_STEPS", "32"))
SCORE_CELLS = int(os.environ.get("SCORE_CELLS", "200"))
SP_CONFIGS = os.environ.get("SP_CONFIGS", "16x5:500 8x1:256").split()
# Spaces of the single_path workload, each optionally with the held-out images per scored arch
# (darts:256); nb201 runs every size of SP_CONFIGS, the others their cpu-X preset's size.
SP_SPACES = os.environ.get("SP_SPACES", "nb201").split()
SP_EVAL_IMAGES = int(os.environ.get("SP_EVAL_IMAGES", "500"))
HESSIAN_SPACES = os.environ.get("HESSIAN_SPACES", "nb201 darts").split()
HESSIAN_REPS = int(os.environ.get("HESSIAN_REPS", "1"))
ALPHA_GRADS = os.environ.get("ALPHA_GRADS", "backward alphas").split()
WORKLOADS = os.environ.get("WORKLOADS", "search hessian single_path table loader lm lm_search demo").split()
PANDAS_PYTHON = os.environ.get("PANDAS_PYTHON", "")
OUT = os.environ.get("BENCH_OUT") or tempfile.mkdtemp(prefix="oxnas-searchbench.")
os.makedirs(OUT, exist_ok=True)
RESULTS = os.path.join(OUT, "results.jsonl")
BATCH = 64


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def settle():
    if WAIT_IDLE != "0":
        subprocess.run([PY, os.path.join(ROOT, "bench", "measured.py"), "--wait-idle", WAIT_IDLE, "--max-wait", MAX_WAIT],
                       stdout=subprocess.DEVNULL, check=True)


def measure(tag, cmd, env=None, fresh=None):
    """Runs cmd under measured.py (after waiting for an idle machine); returns (stdout, stderr, load).
    `fresh`: a run directory removed before every attempt."""
    attempt = 0
    while True:
        if fresh:
            shutil.rmtree(fresh, ignore_errors=True)
        settle()
        load_path = os.path.join(OUT, "%s.%d.load.json" % (tag, attempt))
        p = subprocess.run([PY, os.path.join(ROOT, "bench", "measured.py"), load_path, "--"] + cmd,
                           cwd=ROOT, capture_output=True, text=True, env=env)
        with open(os.path.join(OUT, "%s.%d.log" % (tag, attempt)), "w") as f:
            f.write("$ " + " ".join(cmd) + "\n" + p.stdout + "\n--- stderr ---\n" + p.stderr)
        if p.returncode != 0:
            sys.exit("bench: %s failed (exit %d); see %s.%d.log\n%s" % (tag, p.returncode, os.path.join(OUT, tag),
                                                                       attempt, p.stderr[-2000:]))
        load = json.load(open(load_path))
        load["retries"] = attempt
        load.setdefault("max_rss_mb", None)  # measured.py records it (largest child)
        if load["foreign_cores"] > 0.2 and attempt < RETRIES:
            log("%s: other processes used %.2f cores meanwhile; measuring again" % (tag, load["foreign_cores"]))
            attempt += 1
            continue
        return p.stdout, p.stderr, load


def record(row):
    with open(RESULTS, "a") as f:
        f.write(json.dumps(row) + "\n")
    short = {k: v for k, v in row.items() if k not in ("step_s", "cpu")}
    log(json.dumps(short))


def last_json(text):
    return json.loads([l for l in text.splitlines() if l.startswith("{")][-1])


def oxnas_search_cmd(space, out, limit, extra=()):
    # A section's kind (supernet.space, decision.policy, hessian.mode) is set before its other keys:
    # changing it starts the section afresh.
    cmd = [OXNAS, "search", "--preset", "cpu-demo", "--device", "cpu", "--out", out,
           "--set", "run.threads=%d" % THREADS, "--set", 'decision.policy="argmax"', "--set", "early_stop=false",
           "--set", "optim.epochs=1",
           "--set", "data.train_limit=%d" % limit, "--set", "optim.batch_size=%d" % BATCH,
           "--set", "split.valid_eval_limit=64",
           # 1x28x28 as the PyTorch side reads them (the preset augments to 32x32).
           "--set", 'data.train_transform="fashion-mnist-eval"', "--set", 'data.eval_transform="fashion-mnist-eval"']
    if space == "darts":
        cmd += ["--set", 'supernet.space="darts"', "--set", "supernet.channels=16", "--set", "supernet.layers=8",
                "--set", 'supernet.ops="sgas-es"']
    else:
        cmd += ["--set", "supernet.channels=16", "--set", "supernet.cells_per_stage=5"]
    return cmd + list(extra)


def first_epoch(run_dir):
    with open(os.path.join(run_dir, "search.jsonl")) as f:
        return json.loads(f.readline())


# ------------------------------------------------------------------------------------------ workloads
def w_search():
    for rep in range(1, max(REPS, DARTS_REPS) + 1):
        for space in [s for s, n in (("nb201", REPS), ("darts", DARTS_REPS)) if rep <= n]:
            steps = NB201_STEPS if space == "nb201" else DARTS_STEPS

            def ox():
                d = os.path.join(OUT, "oxnas-search-%s-%d" % (space, rep))
                cmd = oxnas_search_cmd(space, d, 2 * steps * BATCH, ["--set", 'hessian.mode="off"'])
                _, _, load = measure("oxnas-search-%s-%d" % (space, rep), cmd, fresh=d)
                e = first_epoch(d)
                record(dict(workload="search", space=space, framework="oxnas", rep=rep, steps=steps,
                            images_per_s=e["images_per_s"], train_loss=e["train_loss"], **load))

            def pt():
                for ag in ALPHA_GRADS:
                    cmd = [PY, "bench/pytorch/search_step.py", "--space", space, "--warmup", "2",
                           "--steps", str(steps - 2), "--batch-size", str(BATCH), "--threads", str(THREADS),
                           "--alpha-grad", ag]
                    out, _, load = measure("pytorch-search-%s-%s-%d" % (space, ag, rep), cmd)
                    r = last_json(out)
                    r.update(workload="search", space=space, rep=rep, variant=ag, **load)
                    record(r)

            for f in ((ox, pt) if rep % 2 else (pt, ox)):
                f()


def w_hessian():
    for rep in range(1, HESSIAN_REPS + 1):
        for space in HESSIAN_SPACES:
            def ox():
                for mode in ("full", "lanczos") if space == "nb201" or OXNAS_DARTS_FULL else ("lanczos",):
                    d = os.path.join(OUT, "oxnas-hessian-%s-%s-%d" % (space, mode, rep))
                    cmd = oxnas_search_cmd(space, d, 2 * BATCH,
                                           ["--set", 'hessian.mode="%s"' % mode, "--set", "hessian.every=1"])
                    _, _, load = measure("oxnas-hessian-%s-%s-%d" % (space, mode, rep), cmd, fresh=d)
                    e = first_epoch(d)
                    record(dict(workload="hessian", space=space, framework="oxnas", mode=mode, rep=rep,
                                hessian_s=e["hessian_s"], lambda_max=e["lambda_max"], **load))

            def pt():
                cmd = [PY, "bench/pytorch/hessian.py", "--space", space, "--modes", "full,lanczos",
                       "--train-steps", "1", "--threads", str(THREADS)]
                if space == "darts" and DARTS_FULL_ROWS:
                    cmd += ["--full-rows", str(DARTS_FULL_ROWS)]
                out, _, load = measure("pytorch-hessian-%s-%d" % (space, rep), cmd)
                r = last_json(out)
                r.update(workload="hessian", rep=rep, **load)
                record(r)

            for f in ((ox, pt) if rep % 2 else (pt, ox)):
                f()


# The cpu-X presets' supernet sizes, set explicitly on both sides so that an edited preset cannot
# make the two measure different networks: (oxnas --set overrides, single_path.py arguments, title).
SP_PRESETS = {
    "darts": (['supernet.channels=8', 'supernet.layers=5', 'supernet.ops="darts"'],
              ["--channels", "8", "--cells", "5", "--ops", "darts"],
              "DARTS C=8, 5 cells, 8-op set `darts`, BN affine=False with running stats (`cpu-darts`)"),
    "nb101": (["supernet.channels=8", "supernet.cells_per_stack=1"], ["--channels", "8", "--cells", "1"],
              "NB101 (NAS-Bench-1Shot1 space 1) C=8, 1 cell per stack (`cpu-nb101`)"),
    "proxyless": (['supernet.width_mult=0.3', 'supernet.stage_openers="k3e6"', "supernet.zero_init_residual=true"],
                  ["--width-mult", "0.3", "--stage-openers", "k3e6", "--zero-init-residual"],
                  "ProxylessNAS mobile backbone, width 0.3, six MBConvs per residual block, stage openers k3e6 "
                  "(`cpu-proxyless`)"),
}


def sp_runs():
    """(space, tag, oxnas --set overrides, single_path.py arguments, name) of every single-path run."""
    runs = []
    for entry in SP_SPACES:
        space, _, images = entry.partition(":")
        if space == "nb201":
            # One entry per supernet size: CxN:eval_images. 16x5 is the NB201 skeleton; 8x1:256 is the
            # small supernet of the cpu-nb201 preset as examples/rank-fashion-mnist.sh scores all classes.
            for conf in SP_CONFIGS:
                size, eval_images = conf.split(":")
                channels, cells = (int(v) for v in size.split("x"))
                tag = dict(channels=channels, cells_per_stage=cells, eval_images=int(eval_images))
                sets = ["supernet.channels=%d" % channels, "supernet.cells_per_stage=%d" % cells]
                runs.append(("nb201", tag, sets, ["--channels", str(channels), "--cells", str(cells)],
                             "%dx%d" % (channels, cells)))
        elif space in SP_PRESETS:
            sets, args, _ = SP_PRESETS[space]
            tag = dict(space=space, eval_images=int(images or SP_EVAL_IMAGES))
            runs.append((space, tag, sets, ["--space", space] + args, space))
        else:
            sys.exit("bench: SP_SPACES has %r; the spaces are nb201, %s" % (space, ", ".join(SP_PRESETS)))
    return runs


def w_single_path():
    for rep in range(1, SP_REPS + 1):
        for run in sp_runs():
            sp_rep(rep, *run)


def checkpoint_weights(run_dir):
    """Trainable weights in an oxnas supernet checkpoint (the `w.` tensors without BN running
    statistics), or None without the safetensors package."""
    try:
        from safetensors import safe_open
    except ImportError:
        return None
    n = 0
    with safe_open(os.path.join(run_dir, "checkpoints", "last.safetensors"), "np") as f:
        for k in f.keys():
            if k.startswith("w.") and not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
                shape = f.get_slice(k).get_shape()
                size = 1
                for d in shape:
                    size *= d
                n += size
    return n


OXNAS_WEIGHTS = {}  # run name -> oxnas's weight count, for the PyTorch side's check


def score_rate(out):
    """(archs scored, seconds) from `oxnas supernet score`'s summary line (either wording)."""
    m = re.search(r"scored (\d+) (?:cells|architectures) in ([\d.]+) s", out)
    if not m:
        sys.exit("bench: no 'scored N architectures in S s' line in oxnas's output:\n" + out[-2000:])
    return int(m.group(1)), float(m.group(2))


def sp_rep(rep, space, tag, sets, pt_args, base):
    limit = 2 * SP_STEPS * BATCH
    eval_images = tag["eval_images"]
    name = "%s-%d" % (base, rep)

    def ox():
        d = os.path.join(OUT, "oxnas-supernet-" + name)
        cmd = [OXNAS, "supernet", "train", "--preset", "cpu-" + space, "--device", "cpu", "--out", d, "--epochs", "1"]
        for s in sets + ["data.train_limit=%d" % limit, "optim.batch_size=%d" % BATCH, "track.sample=0",
                         "run.threads=%d" % THREADS]:
            cmd += ["--set", s]
        _, _, load = measure("oxnas-supernet-train-" + name, cmd, fresh=d)
        with open(os.path.join(d, "supernet.jsonl")) as f:
            e = json.loads(f.readline())
        weights = checkpoint_weights(d)
        OXNAS_WEIGHTS[base] = weights
        record(dict(tag, workload="single_path_train", framework="oxnas", rep=rep, steps=SP_STEPS,
                    images_per_s=e["images_per_s"], weights=weights, **load))
        scores = os.path.join(OUT, "scores-%s.csv" % name)
        # A killed earlier attempt leaves scores.partial from a supernet that has since been retrained:
        # start clean so that every arch is scored (and timed) in this run.
        for f in (scores, scores + ".partial", scores + ".partial.json"):
            if os.path.exists(f):
                os.remove(f)
        cmd = [OXNAS, "supernet", "score", "--run", d, "--archs", "sample:%d" % SCORE_CELLS, "--bn", "train",
               "--eval-images", str(eval_images), "--device", "cpu", "--threads", str(THREADS), "--out", scores]
        out, err, load = measure("oxnas-supernet-score-" + name, cmd)
        n, secs = score_rate(out)
        imgs = re.search(r"on (\d+) held-out images", err)
        record(dict(tag, workload="single_path_score", framework="oxnas", rep=rep, cells=n, score_s=secs,
                    cells_per_s=n / max(secs, 1e-9), score_images=int(imgs.group(1)) if imgs else None, **load))

    def pt():
        cmd = [PY, "bench/pytorch/single_path.py"] + pt_args + [
            "--warmup", "2", "--steps", str(SP_STEPS - 2), "--batch-size", str(BATCH),
            "--score-cells", str(SCORE_CELLS), "--eval-images", str(eval_images), "--threads", str(THREADS)]
        if OXNAS_WEIGHTS.get(base):
            cmd += ["--expect-weights", str(OXNAS_WEIGHTS[base])]
        out, _, load = measure("pytorch-single-path-" + name, cmd)
        r = last_json(out)
        r.pop("space", None)  # nb201 rows are keyed by size, as before; the others carry their tag's space
        r.update(tag, rep=rep, **load)
        record(dict(r, workload="single_path_train", images_per_s=r["train_images_per_s"]))
        record(dict(r, workload="single_path_score", cells=r["score_cells"]))

    for f in ((ox, pt) if rep % 2 else (pt, ox)):
        f()


def w_table():
    out, _, load = measure("oxnas-table", [os.path.join(ROOT, "target", "release", "examples", "bench_table")])
    record(dict(last_json(out), workload="table", framework="oxnas", **load))
    for py in [p for p in (PY, PANDAS_PYTHON) if p]:
        out, _, load = measure("python-table", [py, "bench/nb201_csv.py"])
        for line in out.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                if "skipped" not in r:
                    record(dict(r, workload="table", framework="python-" + r["loader"], python=py, **load))


def w_loader():
    out, _, load = measure("oxnas-loader", [os.path.join(ROOT, "target", "release", "examples", "bench_loader")])
    for line in out.splitlines():
        if line.startswith("{"):
            record(dict(json.loads(line), workload="loader", **load))
    out, _, load = measure("pytorch-loader", [PY, "bench/pytorch/loader.py", "--epochs", "3"])
    for line in out.splitlines():
        if line.startswith("{"):
            record(dict(json.loads(line), workload="loader", **load))


def oxnas_sizes(sizes):
    """`--set key=value` for each (preset key, PyTorch flag, value) of a size table."""
    return [a for key, _, value in sizes for a in ("--set", "%s=%d" % (key, value))]


def pytorch_sizes(sizes):
    """The PyTorch script's flags for the same size table."""
    return [a for _, flag, value in sizes for a in (flag, str(value))]


# The cpu-darts-rnn preset's sizes, set explicitly on both sides so that an edited preset cannot make
# the two train different models: (preset key, lm_train.py flag, value).
LM_SIZES = (("model.hidden", "--hidden", 96), ("optim.batch_size", "--batch-size", 64), ("optim.bptt", "--bptt", 35))


def w_lm():
    for rep in range(1, LM_REPS + 1):
        def ox():
            d = os.path.join(OUT, "oxnas-lm-%d" % rep)
            cmd = [OXNAS, "lm", "train", "--preset", "cpu-darts-rnn", "--device", "cpu", "--out", d, "--epochs", "1",
                   "--set", "run.threads=%d" % THREADS]
            cmd += oxnas_sizes(LM_SIZES)
            _, _, load = measure("oxnas-lm-%d" % rep, cmd, fresh=d)
            with open(os.path.join(d, "metrics.jsonl")) as f:
                e = json.loads(f.readline())
            params = None
            if os.path.exists(os.path.join(d, "summary.json")):
                params = json.load(open(os.path.join(d, "summary.json"))).get("params")
            record(dict(workload="lm", framework="oxnas", rep=rep, tokens_per_s=e["tokens_per_s"],
                        train_loss=e["train_loss"], epoch_time_s=e["epoch_time_s"], params=params, **load))

        def pt():
            cmd = [PY, "bench/pytorch/lm_train.py", "--threads", str(THREADS)]
            cmd += pytorch_sizes(LM_SIZES)
            out, _, load = measure("pytorch-lm-%d" % rep, cmd)
            r = last_json(out)
            r.pop("losses_first10", None)
            r.update(workload="lm", rep=rep, **load)
            record(r)

        for f in ((ox, pt) if rep % 2 else (pt, ox)):
            f()


# The cpu-darts-rnn search preset's sizes, set on both sides: (preset key, lm_search.py flag, value).
LM_SEARCH_SIZES = (("supernet.hidden", "--hidden", 32), ("optim.batch_size", "--batch-size", 256), ("data.bptt", "--bptt", 35))


def w_lm_search():
    for rep in range(1, LM_REPS + 1):
        def ox():
            d = os.path.join(OUT, "oxnas-lm-search-%d" % rep)
            cmd = [OXNAS, "search", "--preset", "cpu-darts-rnn", "--device", "cpu", "--out", d, "--epochs", "1",
                   "--set", "decision.policy=\"argmax\"", "--set", "hessian.mode=\"off\"",
                   "--set", "run.threads=%d" % THREADS]
            cmd += oxnas_sizes(LM_SEARCH_SIZES)
            _, _, load = measure("oxnas-lm-search-%d" % rep, cmd, fresh=d)
            with open(os.path.join(d, "search.jsonl")) as f:
                e = json.loads(f.readline())
            record(dict(workload="lm_search", framework="oxnas", rep=rep, tokens_per_s=e["tokens_per_s"],
                        train_loss=e["train_loss"], epoch_time_s=e["epoch_time_s"], **load))

        def pt(path):
            cmd = [PY, "bench/pytorch/lm_search.py", "--threads", str(THREADS), "--alpha-path", path]
            cmd += pytorch_sizes(LM_SEARCH_SIZES)
            out, _, load = measure("pytorch-lm-search-%s-%d" % (path, rep), cmd)
            r = last_json(out)
            r.update(workload="lm_search", rep=rep, **load)
            record(r)

        runs = (ox, lambda: pt("reference"), lambda: pt("alpha-only"))
        for f in (runs if rep % 2 else runs[::-1]):
            f()


def w_demo():
    d = os.path.join(OUT, "oxnas-cpu-demo")
    _, err, load = measure("oxnas-cpu-demo", ["/usr/bin/time", "-v", OXNAS, "search", "--preset", "cpu-demo", "--out", d],
                          fresh=d)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", err)
    genotype = open(os.path.join(d, "genotype.txt")).read().strip() if os.path.exists(os.path.join(d, "genotype.txt")) else None
    record(dict(workload="demo", framework="oxnas", max_rss_kb=int(rss.group(1)) if rss else None,
                elapsed=wall.group(1) if wall else None, genotype=genotype, **load))


# ------------------------------------------------------------------------------------------ summary
def summary():
    rows = [json.loads(l) for l in open(RESULTS)]
    clean = lambda r: r["foreign_cores"] <= 0.2
    lines = []

    def avg(rs, key):
        use = [r for r in rs if clean(r)] or rs
        return mean(r[key] for r in use)

    def fmt(rs, key, f="%.1f"):
        return (f + " [%s]") % (avg(rs, key), ", ".join((f % r[key]) + ("" if clean(r) else "*") for r in rs))

    def pick(**kw):
        return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]

    if pick(workload="search"):
        lines += ["### Search step (first-order α step + w step), batch 64, 1x28x28, %d threads, img/s" % THREADS, "",
                  "| supernet | oxnas | PyTorch, reference path (all steps) | PyTorch, reference path (after 2 warm-up) | "
                  "PyTorch, α-only grad (all steps) | PyTorch, α-only grad (after 2 warm-up) | ratio oxnas/PyTorch ref (all / steady) | "
                  "ratio oxnas/PyTorch α-only (all / steady) | max RSS oxnas / PyTorch ref / α-only |", "|---|---|---|---|---|---|---|---|---|"]
        for space, name in (("nb201", "NB201 C=16 N=5, 5 ops (30 α)"), ("darts", "DARTS C=16 8 cells, SGAS-es 5 ops (140 α)")):
            ox = pick(workload="search", space=space, framework="oxnas")
            if not ox:
                continue
            cells = [name, fmt(ox, "images_per_s")]
            ratios = []
            for ag in ("backward", "alphas"):
                pt = pick(workload="search", space=space, framework="pytorch", variant=ag)
                if pt:
                    cells += [fmt(pt, "images_per_s_incl_warmup"), fmt(pt, "images_per_s")]
                    ratios.append("%.2f / %.2f" % (avg(ox, "images_per_s") / avg(pt, "images_per_s_incl_warmup"),
                                                   avg(ox, "images_per_s") / avg(pt, "images_per_s")))
                else:
                    cells += ["-", "-"]
                    ratios.append("-")
            rss = [ox[0]["max_rss_mb"]] + [(pick(workload="search", space=space, framework="pytorch", variant=ag) or [{}])[0].get("max_rss_mb", "-")
                                            for ag in ("backward", "alphas")]
            lines.append("| " + " | ".join(cells + ratios + [" / ".join(str(x) for x in rss) + " MB"]) + " |")
        lines.append("")
    if pick(workload="hessian"):
        lines += ["### λmax of the α-Hessian of the validation loss (one batch of 64), seconds per λmax (%d threads)" % THREADS, "",
                  "| supernet (α entries) | mode | oxnas s | PyTorch s | speed ratio oxnas/PyTorch (= PyTorch s / oxnas s) | λmax oxnas | λmax PyTorch | HVPs (PyTorch) | max RSS oxnas / PyTorch (whole run) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        notes = []
        for space in HESSIAN_SPACES:
            pt = pick(workload="hessian", space=space, framework="pytorch")
            if not pt:
                continue
            for mode in ("full", "lanczos"):
                ox = pick(workload="hessian", space=space, framework="oxnas", mode=mode)
                n = pt[0]["dim"]
                est = mode == "full" and pt[0].get("full_extrapolated")
                pts = fmt(pt, mode + "_s", "%.2f") + (" (extrapolated from %d of %d rows)" % (pt[0]["full_rows_computed"], n) if est else "")
                lam_pt = pt[0].get(mode + "_lambda")
                lines.append("| %s (%d) | %s | %s | %s | %s | %s | %s | %s | %s / %s MB |" % (
                    space, n, mode, fmt(ox, "hessian_s", "%.2f") if ox else "not run",
                    pts, "%.2f" % (avg(pt, mode + "_s") / avg(ox, "hessian_s")) if ox else "-",
                    "%.6g" % ox[0]["lambda_max"] if ox else "-", "%.6g" % lam_pt if lam_pt is not None else "-",
                    n if mode == "full" else pt[0]["lanczos_hvps"],
                    ox[0]["max_rss_mb"] if ox else "-", pt[0]["max_rss_mb"]))
            oxf = pick(workload="hessian", space=space, framework="oxnas", mode="full")
            oxl = pick(workload="hessian", space=space, framework="oxnas", mode="lanczos")
            parts = []
            if oxf and oxl:
                parts.append("oxnas %.1e (same seed and data, separate runs)" % (
                    abs(oxf[0]["lambda_max"] - oxl[0]["lambda_max"]) / abs(oxf[0]["lambda_max"])))
            if pt[0].get("lambda_rel_diff") is not None:
                parts.append("PyTorch %.1e (same batch)" % pt[0]["lambda_rel_diff"])
            if parts:
                notes.append("%s: λmax full vs Lanczos, relative difference: %s" % (space, ", ".join(parts)))
        lines += [""] + ["- " + n for n in notes] + [""]
    for space, tag, _, _, _ in sp_runs():
        ox, pt = pick(workload="single_path_train", framework="oxnas", **tag), pick(workload="single_path_train", framework="pytorch", **tag)
        oxs, pts = pick(workload="single_path_score", framework="oxnas", **tag), pick(workload="single_path_score", framework="pytorch", **tag)
        if not (ox or pt):
            continue
        title = ("NB201 C=%d N=%d, BN affine=False with running stats" % (tag["channels"], tag["cells_per_stage"])
                 if space == "nb201" else SP_PRESETS[space][2])
        lines += ["### Single-path supernet (%s), %d threads" % (title, THREADS), "",
                  "| what | oxnas | PyTorch | ratio oxnas/PyTorch |", "|---|---|---|---|"]
        if ox and pt:
            lines.append("| train, img/s (batch 64, %d steps, all steps) | %s | %s | %.2f |" % (
                SP_STEPS, fmt(ox, "images_per_s"), fmt(pt, "train_images_per_s_incl_warmup"),
                avg(ox, "images_per_s") / avg(pt, "train_images_per_s_incl_warmup")))
            lines.append("| train, img/s (PyTorch after 2 warm-up steps) | | %s | %.2f |" % (
                fmt(pt, "train_images_per_s"), avg(ox, "images_per_s") / avg(pt, "train_images_per_s")))
            lines.append("| train, max RSS MB | %s | %s | |" % (fmt(ox, "max_rss_mb", "%.0f"), fmt(pt, "max_rss_mb", "%.0f")))
        if oxs and pts:
            lines.append("| score, archs/s (%d archs, %s / %s held-out images each, BN train) | %s | %s | %.2f |" % (
                SCORE_CELLS, oxs[0].get("score_images"), pts[0].get("score_images"), fmt(oxs, "cells_per_s", "%.2f"),
                fmt(pts, "cells_per_s", "%.2f"), avg(oxs, "cells_per_s") / avg(pts, "cells_per_s")))
        w_ox = sorted({r.get("weights") for r in ox} - {None})
        w_pt = sorted({r.get("weights") for r in pt} - {None})
        if w_ox or w_pt:
            same = w_ox == w_pt and len(w_ox) == 1
            lines.append("| weights | %s | %s | %s |" % (", ".join(map(str, w_ox)) or "-", ", ".join(map(str, w_pt)) or "-",
                                                       "equal" if same else "**MISMATCH**"))
        lines.append("")
    if pick(workload="table"):
        lines += ["### NAS-Bench-201 table (15,625 cells, all columns)", "", "| loader | load s (min / median) | held in memory | one arch-string lookup |", "|---|---|---|---|"]
        for r in pick(workload="table"):
            if r["framework"] == "oxnas":
                lines.append("| oxnas `Nb201Table::from_compact` (embedded %d-byte asset) | %.4f / %.4f | %.2f MB (`heap_bytes`) | %.2f µs |" % (
                    r["asset_bytes"], r["decode_s_min"], r["decode_s_median"], r["heap_bytes"] / 1e6, r.get("resolve_arch_s", 0) * 1e6))
                if "csv_parse_s_min" in r:
                    lines.append("| oxnas `Nb201Table::from_csv_path` (%d-byte CSV) | %.4f / %.4f | same table | |" % (
                        r["csv_bytes"], r["csv_parse_s_min"], r["csv_parse_s_median"]))
            else:
                lines.append("| Python %s | %.4f / %.4f | %.1f MB (tracemalloc) | %.2f µs |" % (
                    r["loader"] if r["loader"] == "pandas" else "csv.DictReader + dict", r["load_s_min"], r["load_s_median"],
                    r["heap_bytes"] / 1e6, r["lookup_s"] * 1e6))
        lines.append("")
    if pick(workload="loader"):
        lines += ["### Data loader, embedded Fashion-MNIST subset (6,000 images), batch 64, 1 thread, images/s (median of timed epochs)", "",
                  "| transform | oxnas `Loader` | PyTorch DataLoader (per-image torch ops, num_workers=0) | ratio oxnas/PyTorch |", "|---|---|---|---|"]
        for t in ("fashion-mnist-train", "fashion-mnist-train+cutout16", "emnist-train"):
            ox, pt = pick(workload="loader", transform=t, framework="oxnas"), pick(workload="loader", transform=t, framework="pytorch")
            if ox and pt:
                lines.append("| %s | %.0f | %.0f | %.1f |" % (t, ox[0]["images_per_s_median"], pt[0]["images_per_s_median"],
                                                          ox[0]["images_per_s_median"] / pt[0]["images_per_s_median"]))
        lines.append("")
    ox = pick(workload="lm_search", framework="oxnas")
    if ox:
        lines += ["### Recurrent search step, one epoch of `cpu-darts-rnn` with argmax and λmax off (36-edge mixed "
                  "cell, hidden 32, batch 256, bptt 35, first order, embedded KJV corpus, %d threads), tokens/s" % THREADS, "",
                  "| PyTorch path | oxnas | PyTorch | ratio oxnas/PyTorch |", "|---|---|---|---|"]
        for path in ("reference", "alpha-only"):
            pt = pick(workload="lm_search", framework="pytorch", alpha_path=path)
            if pt:
                lines.append("| %s | %s | %s | %.2f |" % (path, fmt(ox, "tokens_per_s"), fmt(pt, "tokens_per_s"),
                                                        avg(ox, "tokens_per_s") / avg(pt, "tokens_per_s")))
        lines.append("")
    ox, pt = pick(workload="lm", framework="oxnas"), pick(workload="lm", framework="pytorch")
    if ox or pt:
        lines += ["### Language-model retraining, one epoch of `cpu-darts-rnn` (DARTS_V2 cell, hidden 96, batch 64, "
                  "bptt 35, embedded KJV corpus, %d threads), tokens/s" % THREADS, "",
                  "| what | oxnas | PyTorch | ratio oxnas/PyTorch |", "|---|---|---|---|"]
        ratio = lambda key_pt: "%.2f" % (avg(ox, "tokens_per_s") / avg(pt, key_pt)) if ox and pt else "-"
        lines.append("| train, tokens/s (every window of the epoch) | %s | %s | %s |" % (
            fmt(ox, "tokens_per_s") if ox else "-", fmt(pt, "tokens_per_s") if pt else "-", ratio("tokens_per_s")))
        if pt:
            lines.append("| train, tokens/s (PyTorch after the first window) | | %s | %s |" % (
                fmt(pt, "tokens_per_s_after_first"), ratio("tokens_per_s_after_first")))
        lines.append("| train loss, mean NLL per token (different random streams) | %s | %s | |" % (
            fmt(ox, "train_loss", "%.3f") if ox else "-", fmt(pt, "train_loss", "%.3f") if pt else "-"))
        lines.append("| max RSS MB (oxnas: whole run, evaluation included) | %s | %s | |" % (
            fmt(ox, "max_rss_mb", "%.0f") if ox else "-", fmt(pt, "max_rss_mb", "%.0f") if pt else "-"))
        p_ox = sorted({r.get("params") for r in ox} - {None})
        p_pt = sorted({r.get("params") for r in pt} - {None})
        if p_ox or p_pt:
            lines.append("| weights | %s | %s | %s |" % (", ".join(map(str, p_ox)) or "-", ", ".join(map(str, p_pt)) or "-",
                                                       "equal" if p_ox == p_pt and len(p_ox) == 1 else "**MISMATCH**"))
        lines.append("")
    for r in pick(workload="demo"):
        lines += ["### `oxnas search --preset cpu-demo` (README main job)", "",
                  "wall %s (measured.py: %.1f s), max RSS %.0f MB, CPU %.1f s, other processes %.2f cores; genotype %s" % (
                      r["elapsed"], r["wall_s"], (r["max_rss_kb"] or 0) / 1024, r["own_cpu_s"], r["foreign_cores"], r["genotype"]), ""]
    text = "\n".join(lines)
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write(text + "\n")
    print(text)


def main():
    if sys.argv[1:] == ["--summary"]:
        return summary()
    log("raw results in " + OUT)
    for w in WORKLOADS:
        globals()["w_" + w]()
    summary()


if __name__ == "__main__":
    main()
