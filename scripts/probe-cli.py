#!/usr/bin/env python3
"""Issue 15 probe rerun: bad inputs, kills and a full disk against the release binary.
Prints one table row per probe class: tried / clear error / panic / data lost. Not part of the test suite."""
import json, os, random, shutil, signal, struct, subprocess, sys, tempfile, time
from pathlib import Path

OX = os.environ.get("OXNAS", "target/release/oxnas")
ROOT = Path(tempfile.mkdtemp(prefix="probe15-"))
random.seed(15)
TINY = ["--device", "cpu", "--set", "model.channels=4", "--set", "data.train_limit=320", "--set", "data.test_limit=100", "--set", "run.threads=1"]
SEARCH = ["--device", "cpu", "--set", "supernet.channels=2", "--set", "data.train_limit=128", "--set", "optim.batch_size=32",
          "--set", "split.valid_eval_limit=32", "--set", "run.eval_batch_size=32", "--set", "run.threads=1",
          "--set", 'data.train_transform=[{kind="resize",size=12},{kind="to_float"}]',
          "--set", 'data.eval_transform=[{kind="resize",size=12},{kind="to_float"}]']
SUPERNET = ["--device", "cpu", "--set", "supernet.channels=2", "--set", "data.train_limit=256", "--set", "optim.batch_size=32",
            "--set", "track.sample=0", "--set", "run.threads=1",
            "--set", 'data.train_transform=[{kind="resize",size=12},{kind="to_float"}]',
            "--set", 'data.eval_transform=[{kind="resize",size=12},{kind="to_float"}]']
rows = {}
details = []

def run(args, **kw):
    return subprocess.run([OX] + [str(a) for a in args], capture_output=True, text=True, **kw)

def record(cls, clear, panic=False, lost=False, note=""):
    r = rows.setdefault(cls, [0, 0, 0, 0])
    r[0] += 1; r[1] += bool(clear); r[2] += bool(panic); r[3] += bool(lost)
    if not clear or panic or lost:
        details.append(f"{cls}: {note}")

def expect_error(cls, args, *must, lost=lambda: False):
    p = run(args)
    panic = "panicked" in p.stderr
    clear = p.returncode != 0 and "error:" in p.stderr and not panic and all(m in p.stderr for m in must)
    record(cls, clear, panic, lost(), f"{args[:3]}... rc={p.returncode} must={must} stderr={p.stderr.strip()[-300:]}")
    return p

def tmp_files(d):
    return [p for p in Path(d).rglob("*.tmp")]

def train(out, epochs=2, extra=()):
    return run(["train", "--preset", "cpu-smoke", *TINY, *extra, "--epochs", epochs, "--out", out])

def metrics(d):
    return [{k: v for k, v in json.loads(l).items() if k not in ("epoch_time_s", "images_per_s")} for l in open(Path(d) / "metrics.jsonl")]

# ---------- fixtures ----------
ref = ROOT / "ref"; assert train(ref, 3).returncode == 0
trainrun = ROOT / "trainrun"; assert train(trainrun, 1).returncode == 0
searchrun = ROOT / "searchrun"
p = run(["search", "--preset", "cpu-demo", *SEARCH, "--set", "optim.epochs=2", "--out", searchrun]); assert p.returncode == 0, p.stderr
snrun = ROOT / "snrun"
p = run(["supernet", "train", "--preset", "cpu-nb201", *SUPERNET, "--epochs", "1", "--out", snrun]); assert p.returncode == 0, p.stderr

# ---------- 1. concurrent --out ----------
cls = "1 two runs, one --out"
for kind in ["train", "train-resume", "search", "supernet", "score"]:
    d = ROOT / f"conc-{kind}"
    if kind in ("train", "train-resume"):
        first = subprocess.Popen([OX, "train", "--preset", "cpu-smoke", *TINY, "--epochs", "3", "--out", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = ["train", "--preset", "cpu-smoke", *TINY, "--epochs", "3", "--out", d] if kind == "train" else ["train", "--resume", d]
    elif kind == "search":
        first = subprocess.Popen([OX, "search", "--preset", "cpu-demo", *SEARCH, "--set", "optim.epochs=6", "--out", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = ["search", "--preset", "cpu-demo", *SEARCH, "--set", "optim.epochs=6", "--out", d]
    elif kind == "supernet":
        first = subprocess.Popen([OX, "supernet", "train", "--preset", "cpu-nb201", *SUPERNET, "--epochs", "40", "--out", d], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = ["supernet", "train", "--preset", "cpu-nb201", *SUPERNET, "--epochs", "4", "--out", d]
    else:
        d = snrun
        first = subprocess.Popen([OX, "supernet", "score", "--run", d, "--archs", "sample:3000", "--eval-images", "64", "--device", "cpu", "--out", ROOT / "s1.csv"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        second = ["supernet", "score", "--run", d, "--archs", "sample:5", "--eval-images", "64", "--device", "cpu", "--out", ROOT / "s2.csv"]
    lock = Path(d) / ".oxnas.lock"
    t0 = time.time()
    while not (lock.exists() and lock.read_text().strip() == str(first.pid)) and time.time() - t0 < 120:
        time.sleep(0.02)
    if kind == "train-resume":
        while not (Path(d) / "checkpoints/last.safetensors").exists() and first.poll() is None:
            time.sleep(0.02)
    expect_error(cls, second, f"PID {first.pid}")
    first.kill(); first.wait()

# ---------- 2. directories oxnas does not own / of another kind ----------
cls = "2 foreign or other-kind dir"
foreign = ROOT / "foreign"; foreign.mkdir(); (foreign / "metrics.jsonl").write_text("precious\n")
untouched = lambda: (foreign / "metrics.jsonl").read_text() != "precious\n" or len(list(foreign.iterdir())) != 1
expect_error(cls, ["train", "--preset", "cpu-smoke", *TINY, "--out", foreign], "not an oxnas run directory", lost=untouched)
expect_error(cls, ["search", "--preset", "cpu-demo", *SEARCH, "--out", foreign], "not an oxnas run directory", lost=untouched)
expect_error(cls, ["supernet", "train", "--preset", "cpu-nb201", *SUPERNET, "--out", foreign], "not an oxnas run directory", lost=untouched)
expect_error(cls, ["search", "--preset", "cpu-demo", *SEARCH, "--out", trainrun], "holds a training run")
expect_error(cls, ["train", "--preset", "cpu-smoke", *TINY, "--out", searchrun], "holds a search run")
expect_error(cls, ["supernet", "train", "--preset", "cpu-nb201", *SUPERNET, "--out", searchrun], "holds a search run")
expect_error(cls, ["train", "--resume", searchrun], "this is a search run", "oxnas search --resume")
expect_error(cls, ["search", "--resume", trainrun], "this is a training run", "oxnas train --resume")
expect_error(cls, ["supernet", "train", "--resume", trainrun], "this is a training run")
expect_error(cls, ["train", "--resume", snrun], "this is a supernet run")
expect_error(cls, ["eval", "--run", searchrun, "--device", "cpu"], "this is a search run")
expect_error(cls, ["train", "--resume", foreign], "no config.toml", lost=untouched)

# ---------- 3. kills and debris ----------
cls = "3 kill -9 / temp debris"
def kill_until_done(start_args, resume_args, d, lo, hi):
    kills = 0
    while True:
        args = resume_args if (d / "checkpoints/last.safetensors").exists() else start_args
        pr = subprocess.Popen([OX, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(lo, hi))
        if pr.poll() is not None:
            return kills, pr.returncode
        pr.kill(); pr.wait(); kills += 1

ref8 = ROOT / "ref8"; assert train(ref8, 8).returncode == 0
kd = ROOT / "killed"
kills, rc = kill_until_done(["train", "--preset", "cpu-smoke", *TINY, "--epochs", "8", "--out", kd], ["train", "--resume", kd], kd, 0.2, 1.2)
same = rc == 0 and (kd / "summary.json").exists() and metrics(kd) == metrics(ref8)
left = tmp_files(kd)
for _ in range(max(kills, 1)):  # one probe per kill: each had to resume into the same result
    record(cls, same and not left, lost=not same, note=f"train: {kills} kills; same as uninterrupted: {same}; tmp left: {left}")
sargs = lambda out: ["search", "--preset", "cpu-demo", *SEARCH, "--set", "optim.epochs=10", "--out", out]
sref = ROOT / "sref"; assert run(sargs(sref)).returncode == 0
sk = ROOT / "skilled"
kills, rc = kill_until_done(sargs(sk), ["search", "--resume", sk], sk, 0.5, 2.5)
strip = lambda d: [{k: v for k, v in json.loads(l).items() if k not in ("epoch_time_s", "images_per_s", "hessian_s")} for l in open(d / "search.jsonl")]
same = rc == 0 and (sk / "genotype.txt").exists() and strip(sk) == strip(sref) and (sk / "genotype.txt").read_text() == (sref / "genotype.txt").read_text()
left = tmp_files(sk)
for _ in range(max(kills, 1)):
    record(cls, same and not left, lost=not same, note=f"search: {kills} kills; same as uninterrupted: {same}; tmp left: {left}")
# Stale temps of dead PIDs are swept on resume.
d = ROOT / "sweep"; assert train(d, 1).returncode == 0
for n in range(25):
    (d / "checkpoints" / f".last.safetensors.{4000000 + n}.tmp").write_bytes(b"x" * 1000)
p = run(["train", "--resume", d])
record(cls, not tmp_files(d), note=f"sweep left {tmp_files(d)}")

# ---------- 3b. full disk ----------
cls = "3 full disk (tmpfs)"
ck = (ref / "checkpoints/last.safetensors").stat().st_size
for frac in [0.3, 1.5, 2.5, 3.5]:
    mnt = ROOT / f"disk{frac}"; mnt.mkdir()
    size = (ck * 5 + 256 * 1024) // 4096 * 4096
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt]).returncode != 0:
        record(cls, False, note="cannot mount tmpfs"); continue
    try:
        room = int(ck * frac) + 16 * 4096
        (mnt / "filler").write_bytes(b"\0" * (size - room))
        d = mnt / "run"
        p = train(d, 3)
        clear1 = p.returncode == 0 or ("No space left" in p.stderr and "panicked" not in p.stderr)
        debris = tmp_files(mnt)
        (mnt / "filler").unlink()
        if (d / "checkpoints/last.safetensors").exists():
            p2 = run(["train", "--resume", d])
        elif d.exists() and not (d / "summary.json").exists():
            shutil.rmtree(d); p2 = train(d, 3)
        else:
            p2 = p
        same = (d / "summary.json").exists() and metrics(d) == metrics(ref)
        record(cls, clear1 and not debris, "panicked" in p.stderr + p2.stderr, not same,
               f"fill {frac}: rc={p.returncode} {p.stderr.strip()[-200:]} debris={debris} same={same} {p2.stderr.strip()[-200:]}")
    finally:
        subprocess.run(["umount", mnt])

# ---------- 4. corrupt checkpoints ----------
cls = "4 corrupt checkpoint"
def corrupt(where):
    d = ROOT / f"corrupt-{where}"; shutil.copytree(trainrun, d)
    f = d / "checkpoints/last.safetensors"; b = bytearray(f.read_bytes())
    hl = 8 + struct.unpack("<Q", bytes(b[:8]))[0]
    if where == "data": b[hl + (len(b) - hl) // 2] ^= 0x01
    elif where == "data-last": b[-1] ^= 0x80
    elif where == "header": b[20] ^= 0x20
    elif where == "truncated": b = b[: len(b) // 2]
    f.write_bytes(bytes(b))
    # "train --epochs" cannot change a resumed run; a 1-epoch run is finished, so resume it via eval too.
    return d, f
for where in ["data", "data-last", "header", "truncated"]:
    d, f = corrupt(where)
    cfg = (d / "config.toml").read_text().replace("epochs = 1", "epochs = 2"); (d / "config.toml").write_text(cfg)
    expect_error(cls, ["train", "--resume", d], "last.safetensors")
    expect_error(cls, ["eval", "--run", d, "--checkpoint", "last", "--device", "cpu"], "last.safetensors")
# A checkpoint without a checksum (an older oxnas): loads, with a notice.
d = ROOT / "old-ckpt"; shutil.copytree(trainrun, d)
f = d / "checkpoints/last.safetensors"; b = f.read_bytes(); hl = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + hl]); h["__metadata__"].pop("oxnas.checksum")
nh = json.dumps(h, separators=(",", ":")).encode(); nh += b" " * ((8 - len(nh) % 8) % 8)
f.write_bytes(struct.pack("<Q", len(nh)) + nh + b[8 + hl:])
p = run(["eval", "--run", d, "--checkpoint", "last", "--device", "cpu"])
record(cls, p.returncode == 0 and "no checksum" in p.stderr, "panicked" in p.stderr, note=f"old checkpoint: {p.stderr[-300:]}")

# ---------- 5. config ----------
cls = "5 config"
base = ["train", "--preset", "cpu-smoke", "--out", ROOT / "never"]
for s, must in [("optim.lr=abc", 'optim.lr: expected a number, got "abc"'), ("optim.lr=true", "optim.lr: expected a number"),
                ("optim.lr=[1]", "optim.lr: expected a number, got an array"), ("optim.epochs=-1", "optim.epochs: expected a non-negative integer, got -1"),
                ("optim.epochs=2.5", "optim.epochs: expected a non-negative integer"), ("optim.nesterov=yes", "optim.nesterov: expected a boolean"),
                ("run.seed=-5", "run.seed: expected a non-negative integer"), ("model.channels=abc", "model.channels: expected an integer"),
                ("run.threads=-1", "run.threads"), ("optim.momentum=nan", "optim.momentum"), ("optim.weight_decay=inf", "optim.weight_decay"),
                ("optim.lr=inf", "optim.lr"), ("optim.grad_clip=nan", "optim.grad_clip"), ("optim.lr_min=nan", "optim.lr_min"),
                ("optim.batch_size=0", "batch_size"), ("optim.epochz=3", "epochz"), ("optimizer.lr=3", "optimizer"), ("epochs", "section.key=value")]:
    expect_error(cls, base + ["--set", s], must)
for s, must in [("arch.lr=inf", "arch.lr"), ("arch.weight_decay=nan", "arch.weight_decay"), ("optim.lr=abc", "optim.lr: expected a number")]:
    expect_error(cls, ["search", "--preset", "cpu-demo", "--out", ROOT / "never", "--set", s], must)
bad = ROOT / "bad.toml"
for text, must in [("[optim]\nlr = \"fast\"\n", "optim.lr: expected a number"), ("[optim]\nlr = = 3\n", "line 2, column"), ("[optim\n", "line 1, column")]:
    bad.write_text(text); expect_error(cls, base + ["--config", bad], must)
expect_error(cls, base + ["--config", ROOT / "missing.toml"], "file not found")
expect_error(cls, base + ["--config", ""], "--config")  # clap refuses an empty value itself
expect_error(cls, ["train", "--preset", "", "--out", ROOT / "never"], "--preset ''", "file not found")
expect_error(cls, ["train", "--preset", ROOT / "missing.toml", "--out", ROOT / "never"], "file not found")
expect_error(cls, base + ["--config", ROOT], "is a directory")
expect_error(cls, base + ["--arch", "1835", "--genotype", "DARTS_V2"], "cannot be used with")
d = ROOT / "badcfg"; shutil.copytree(trainrun, d); (d / "config.toml").write_text((d / "config.toml").read_text() + "\n[run\n")
expect_error(cls, ["train", "--resume", d], "line", "column")
p = train(ROOT / "threads", 1, ["--set", "run.threads=100000"])
record(cls, p.returncode == 0 and "run.threads = 100000 is more than the" in p.stderr, "panicked" in p.stderr, note=p.stderr[-300:])

# ---------- 6. divergence ----------
cls = "6 divergence"
for name, args, must in [
    ("train lr=1e30", ["train", "--preset", "cpu-smoke", *TINY, "--set", "optim.lr=1e30", "--set", "optim.grad_clip=0", "--epochs", "2", "--out", ROOT / "div1"], ["optim.lr", "at epoch 1"]),
    ("train lr=2000", ["train", "--preset", "cpu-smoke", *TINY, "--set", "optim.lr=2000", "--epochs", "3", "--out", ROOT / "div2"], None),
    ("search lr=1e30", ["search", "--preset", "cpu-demo", *SEARCH, "--set", "optim.epochs=3", "--set", "optim.lr=1e30", "--set", "arch.lr=1e30", "--out", ROOT / "div3"], ["optim.lr", "arch.lr", "search diverged"]),
    ("search arch.lr=1e6", ["search", "--preset", "cpu-demo", *SEARCH, "--set", "optim.epochs=3", "--set", "arch.lr=1e6", "--out", ROOT / "div4"], None),
    ("supernet lr=1e30", ["supernet", "train", "--preset", "cpu-nb201", *SUPERNET, "--set", "optim.lr=1e30", "--set", "optim.grad_clip=0", "--epochs", "2", "--out", ROOT / "div5"], ["optim.lr", "at epoch 1"]),
]:
    p = run(args)
    if must is None:  # either a clean finish with finite losses everywhere, or a divergence message
        logs = [f for f in Path(args[-1]).glob("*.jsonl")]
        recs = [json.loads(l) for f in logs for l in f.read_text().splitlines()]
        losses = [r.get(k) for r in recs for k in ("train_loss", "test_loss", "valid_loss") if k in r]
        finite = p.returncode == 0 and recs and all(isinstance(v, (int, float)) and abs(v) != float("inf") for v in losses)
        ok = finite or ("diverged" in p.stderr and "Lower" in p.stderr and "epoch 0" not in p.stderr)
    else:
        ok = p.returncode != 0 and all(m in p.stderr for m in must) and "epoch 0" not in p.stderr
    record(cls, ok, "panicked" in p.stderr, note=f"{name}: rc={p.returncode} {p.stderr.strip()[-300:]}")

# ---------- 7. data ----------
cls = "7 data files"
def idx(d, prefix, n, side):
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 0x803, n, side, side) + bytes(n * side * side))
    (d / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n)))
dd = ROOT / "d1"; idx(dd, "train", 64, 14); idx(dd, "t10k", 32, 28)
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", dd, "--out", ROOT / "dx1"], "train-images-idx3-ubyte holds 1x14x14", "t10k-images-idx3-ubyte holds 1x28x28")
dd = ROOT / "d2"; idx(dd, "train", 0, 28); idx(dd, "t10k", 32, 28)
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", dd, "--out", ROOT / "dx2"], "train-images-idx3-ubyte", "0 images")
dd = ROOT / "d3"; idx(dd, "train", 64, 28); idx(dd, "t10k", 0, 28)
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", dd, "--out", ROOT / "dx3"], "t10k-images-idx3-ubyte", "0 images")
dd = ROOT / "d4"; idx(dd, "t10k", 32, 28); (dd / "train-images-idx3-ubyte").mkdir(); idx(ROOT / "d4x", "train", 64, 28)
shutil.copy(ROOT / "d4x/train-labels-idx1-ubyte", dd)
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", dd, "--out", ROOT / "dx4"], "is a directory, not a data file")
dd = ROOT / "d5"; idx(dd, "t10k", 32, 28); shutil.copy(ROOT / "d4x/train-images-idx3-ubyte", dd); os.symlink(ROOT / "gone", dd / "train-labels-idx1-ubyte")
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", dd, "--out", ROOT / "dx5"], "dangling symlink")
dd = ROOT / "d6"; idx(dd, "train", 64, 28); idx(dd, "t10k", 32, 28); f = dd / "train-images-idx3-ubyte"; f.write_bytes(f.read_bytes()[:-100])
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", dd, "--out", ROOT / "dx6"], "train-images-idx3-ubyte")
expect_error(cls, ["train", "--preset", "cpu-smoke", "--data-dir", ROOT / "nodir", "--out", ROOT / "dx7"], "nodir")

# ---------- 8. arch lists and CSVs ----------
cls = "8 arch lists / CSVs / rank"
af = ROOT / "archs.txt"
for text, must in [("foo,12\n", "more than one field"), ("6111,1835\n", "more than one field"), ("-1\n6111\n", "index -1 is out of range"),
                   ("cells\n6111\n", "line 1"), ("6111\n15625\n", "line 2"), ("index,arch_str\n12,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n", "line 2")]:
    af.write_text(text)
    expect_error(cls, ["supernet", "score", "--run", snrun, "--archs", af, "--device", "cpu", "--out", ROOT / "sc.csv"], must)
p = run(["supernet", "score", "--run", snrun, "--archs", "1835,6111", "--eval-images", "10", "--device", "cpu", "--out", ROOT / "sc10.csv"])
record(cls, p.returncode == 0 and "on 10 held-out images" in p.stderr, "panicked" in p.stderr, note=p.stderr[-300:])
sc = ROOT / "three.csv"
sc.write_text("index,arch_str,score,loss\n" + "".join(f"{i},{a},{k}.0,\n" for k, (i, a) in enumerate([(1835, "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"), (6111, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"), (1651, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")])))
expect_error(cls, ["rank", "--scores", sc, "-k", "999"], "-k 999", "1 to 3")
expect_error(cls, ["rank", "--scores", sc, "-k", "0"], "-k 0")
expect_error(cls, ["rank", "--scores", sc, "--out", "/dev/null/report"], "/dev/null/report")
tr = ROOT / "disjoint.csv"; tr.write_text("index,accuracy\n1,50\n2,60\n")
expect_error(cls, ["rank", "--scores", sc, "--truth", tr], "share no rows")
expect_error(cls, ["rank", "--scores", ROOT / "nope.csv"], "nope.csv")
p = run(["rank", "--scores", sc, "--out", ROOT / "rk"])
record(cls, p.returncode == 0 and "too few cells (3)" in p.stdout and "favours" not in p.stdout, "panicked" in p.stderr, note=p.stdout[-300:])

# ---------- 9. random parser input through the CLI ----------
cls = "9 random parser input"
alphabet = "|+~0123456789_abcdefghijklmnopqrstuvwxyz(),'[]= .:#-\""
valid = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
def mutate(s):
    s = list(s)
    for _ in range(random.randint(1, 4)):
        i = random.randrange(len(s) + 1); op = random.random()
        if op < 0.4 and s: s[min(i, len(s) - 1)] = random.choice(alphabet)
        elif op < 0.7: s.insert(i, random.choice(alphabet))
        elif s: s.pop(min(i, len(s) - 1))
    return "".join(s)
for _ in range(60):
    p = run(["bench", "query", mutate(valid)])
    record(cls, p.returncode == 0 or ("error:" in p.stderr and "panicked" not in p.stderr), "panicked" in p.stderr, note=p.stderr[-200:])
g = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
for _ in range(40):
    p = run(["arch", "info", "--space", "darts", "--genotype", mutate(g), "--channels", "4", "--layers", "3"])
    record(cls, p.returncode == 0 or ("error:" in p.stderr and "panicked" not in p.stderr), "panicked" in p.stderr, note=p.stderr[-200:])
keys = ["optim.lr", "optim.epochs", "optim.momentum", "run.threads", "run.seed", "model.channels", "data.train_limit", "optim.nesterov", "model.arch"]
for _ in range(40):
    v = "".join(random.choice(alphabet) for _ in range(random.randint(0, 10)))
    p = run(["train", "--preset", "cpu-smoke", "--set", f"{random.choice(keys)}={v}", "--set", "optim.epochs=0", "--out", ROOT / "never"])
    record(cls, p.returncode != 0 and "error:" in p.stderr and "panicked" not in p.stderr, "panicked" in p.stderr, note=p.stderr[-200:])

print("| probe class | tried | clear error | panic | data lost |")
print("|---|---:|---:|---:|---:|")
tot = [0, 0, 0, 0]
for k in sorted(rows):
    r = rows[k]; tot = [a + b for a, b in zip(tot, r)]
    print(f"| {k} | {r[0]} | {r[1]} | {r[2]} | {r[3]} |")
print(f"| total | {tot[0]} | {tot[1]} | {tot[2]} | {tot[3]} |")
print("\nnot clear / panic / lost:")
for d in details:
    print(" -", d)
shutil.rmtree(ROOT, ignore_errors=True)
