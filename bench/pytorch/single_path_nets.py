"""PyTorch versions of oxnas's single-path supernets (`oxnas supernet train/score`), one per space,
for bench/pytorch/single_path.py.

Written for this benchmark from oxnas's Rust code (crates/engine/src/oneshot/{mod,darts,nb101,
proxyless}.rs, crates/engine/src/nn/{ops,nb101_net,proxyless_net}.rs, crates/engine/src/search/
{darts_supernet,mixed_op}.rs and the samplers in crates/core/src/oneshot/), not copied from the
reference repositories. Parameter and buffer names and shapes are the ones oxnas stores in
`checkpoints/last.safetensors` (without the `w.` prefix), so `python single_path_nets.py --space X
--checkpoint RUN/checkpoints/last.safetensors` compares the two tensor by tensor.

Every space gives a `SinglePath` (build(space, ...)): the network (`net(x, path)` runs one path),
`sample(rng)` (one path drawn from oxnas's distribution, numpy Generator, not oxnas's ChaCha stream)
and `key(path)` (equal for paths oxnas treats as one architecture, for distinct `sample:N` lists).

- nb201: supernets.Nb201Supernet with BN affine=False and running statistics (cpu-nb201); a path is
  one op index per edge, uniform over the 5 ops.
- darts: supernets.DartsSupernet (BN affine=False with running statistics, pool + BN) over an op set;
  a path fixes, per cell type, the 8 edges a uniformly drawn genotype uses (each node 2 distinct
  inputs, an op for each from the set without `none`) and prunes the other 6 (oxnas's EdgeState).
- nb101: NAS-Bench-1Shot1 search space 1's one-shot net (Nb101OneShot below); a path is one of the
  2,685 distinct cells (uniform over cells, as oxnas), run as the first of its 14,580 configurations
  in oxnas's enumeration order (cells found with bench/nb101_golden.py's module hash).
- proxyless: the ProxylessNAS mobile backbone with all six MBConvs in each of the 21 blocks
  (ProxylessSupernet below); a path picks per block one choice uniformly among those the block
  allows (7 with `zero` where the block keeps its shape, else 6).
"""
import argparse
import itertools
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from supernets import DARTS_OPS, SGAS_ES_OPS, DartsSupernet, Nb201Supernet  # noqa: E402
from proxyless import CHOICES, STAGES, make_divisible  # noqa: E402

# Trainable weights (BN running statistics excluded) of oxnas's supernets at the CPU presets' sizes,
# 10 classes, 1x28x28 input, summed from `oxnas supernet train` checkpoints (debug build of main
# b0502a6, cpu-X presets with --set data.train_limit=256; cpu-darts at channels = 8, 5 layers, op set
# darts); NB201 C=16 N=5 from supernets.py's check.
OXNAS_WEIGHTS = {
    ("nb201", 8, 1): 99906,
    ("nb201", 16, 5): 1692538,
    ("darts", 8, 5, "darts"): 393778,
    ("nb101", 8, 1): 81058,
    ("proxyless", 0.3): 1805522,
}


class SinglePath:
    def __init__(self, net, sample, key):
        self.net, self.sample, self.key = net, sample, key

    def weights(self):
        return self.net.weights()


def count_weights(net):
    return sum(p.numel() for p in net.weights())


# ------------------------------------------------------------------------------------------ NB201
def nb201(channels, cells):
    net = Nb201Supernet(channels, cells, 10, 1, track_running_stats=True)
    return SinglePath(net, lambda rng: rng.integers(0, 5, 6).tolist(), tuple)


# ------------------------------------------------------------------------------------------ DARTS
STEPS = 4


class DartsSinglePath(DartsSupernet):
    """The DARTS search supernet running one genotype: `path` = (normal, reduce), each 14 entries, the
    op column (in the op set) of a used edge or None for a pruned one."""

    def forward(self, x, path):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell_forward(cell, s0, s1, path[1] if cell.reduction else path[0])
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))


def cell_forward(cell, s0, s1, states):
    """oxnas's SearchCell::forward_t with every edge fixed or pruned: a node sums its fixed edges."""
    nodes = [cell.preprocess0(s0), cell.preprocess1(s1)]
    offset = 0
    for _ in range(cell.steps):
        total = None
        for j, h in enumerate(nodes):
            k = states[offset + j]
            if k is None:
                continue
            out = cell._ops[offset + j]._ops[k](h)
            total = out if total is None else total + out
        offset += len(nodes)
        nodes.append(total)
    return torch.cat(nodes[-4:], dim=1)


def darts_sampler(ops):
    """A genotype as oxnas's DartsRankSpace::sample_genotype draws it, returned as edge states."""
    columns = [k for k, name in enumerate(ops) if name != "none"]

    def cell(rng):
        states = [None] * sum(i + 2 for i in range(STEPS))
        offset = 0
        for node in range(STEPS):
            n = node + 2
            a, b = rng.choice(n, 2, replace=False)
            states[offset + int(a)] = columns[rng.integers(len(columns))]
            states[offset + int(b)] = columns[rng.integers(len(columns))]
            offset += n
        return tuple(states)

    return lambda rng: (cell(rng), cell(rng))


def darts(channels, layers, ops):
    op_names = DARTS_OPS if ops == "darts" else SGAS_ES_OPS
    net = DartsSinglePath(channels, layers, STEPS, 10, 1, op_names)
    # Edge states determine the genotype (a node's two pairs are unordered), so they are the key.
    return SinglePath(net, darts_sampler(op_names), lambda p: p)


# ------------------------------------------------------------------------------------------ NB101
BLOCKS = 4
VERTICES = BLOCKS + 2
PARENTS = (0, 1, 2, 2, 2, 2)
NB101_OPS = ("conv3x3", "conv1x1", "maxpool3x3")  # oxnas's Nb101Op::ALL order


def nb101_configurations():
    """oxnas's `configurations()`: parent sets of vertex 1, 2, ... (each k-subset of the earlier
    vertices in lexicographic order, vertex 1 varying slowest), then block ops (block 1 slowest)."""
    parent_sets = [[0] * VERTICES]
    for v in range(1, VERTICES):
        masks = [sum(1 << i for i in c) for c in itertools.combinations(range(v), PARENTS[v])]
        parent_sets = [p[:v] + [m] + p[v + 1:] for p in parent_sets for m in masks]
    for parents in parent_sets:
        for code in range(3 ** BLOCKS):
            ops = tuple(NB101_OPS[code // 3 ** (BLOCKS - 1 - b) % 3] for b in range(BLOCKS))
            yield ops, tuple(parents)


def has_edge(parents, u, v):
    return parents[v] >> u & 1 == 1


def nb101_active(parents):
    """Whether each vertex leads to the output (oxnas's Configuration::active)."""
    active = [False] * VERTICES
    active[VERTICES - 1] = True
    for v in range(VERTICES - 2, -1, -1):
        active[v] = any(active[d] and has_edge(parents, v, d) for d in range(v + 1, VERTICES))
    return active


def nb101_hash(matrix, ops):
    """NAS-Bench-101 module hash of a cell (ops: conv3x3 / conv1x1 / maxpool3x3 per inner vertex)."""
    from nb101_golden import C1, C3, MP, module_hash
    label = {"conv3x3": C3, "conv1x1": C1, "maxpool3x3": MP}
    return module_hash(matrix, ["input"] + [label[o] for o in ops] + ["output"])[0]


def nb101_catalogue():
    """{module hash: the first configuration that spells the cell} over the distinct cells (by hash
    of the pruned cell): what oxnas's Nb101OneShotSpace samples from and runs."""
    first, hashes = {}, {}
    for ops, parents in nb101_configurations():
        # Configurations that differ only in loose ends share a pruned cell: hash each labelled graph once.
        active = nb101_active(parents)
        graph = (tuple(p if active[v] else 0 for v, p in enumerate(parents)),
                 tuple(o if active[b + 1] else None for b, o in enumerate(ops)))
        if graph not in hashes:
            matrix = [[1 if v > u and has_edge(parents, u, v) else 0 for v in range(VERTICES)] for u in range(VERTICES)]
            hashes[graph] = nb101_hash(matrix, ops)
        first.setdefault(hashes[graph], (ops, parents))
    return first


def nb101_cells():
    first = nb101_catalogue()
    return [first[h] for h in sorted(first)]


class ConvBnRelu(nn.Module):
    """oxnas nb101_net::ConvBnRelu: conv ('same', no bias) -> BN -> ReLU, named conv / bn."""

    def __init__(self, c_in, c_out, k):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Nb101OneShotCell(nn.Module):
    def __init__(self, c_in, c):
        super().__init__()
        self.c = c
        self.proj = nn.ModuleDict({str(v): ConvBnRelu(c_in, c, 1) for v in range(1, BLOCKS + 1)})
        self.proj[str(VERTICES - 1)] = ConvBnRelu(c_in, c * BLOCKS, 1)
        self.blocks = nn.ModuleDict({
            str(v): nn.ModuleDict({"conv3x3": ConvBnRelu(c, c, 3), "conv1x1": ConvBnRelu(c, c, 1)})
            for v in range(1, BLOCKS + 1)})

    def forward(self, x, config):
        ops, parents = config
        out = VERTICES - 1
        active = nb101_active(parents)
        values = [x]
        for v in range(1, out):
            if not active[v]:  # a loose end: nothing that reaches the output reads it
                values.append(None)
                continue
            parts = [values[s] for s in range(1, v) if has_edge(parents, s, v)]
            if has_edge(parents, 0, v):
                parts.append(self.proj[str(v)](x))
            h = parts[0]
            for p in parts[1:]:
                h = h + p
            op = ops[v - 1]
            values.append(F.max_pool2d(h, 3, 1, 1) if op == "maxpool3x3" else self.blocks[str(v)][op](h))
        n, _, hh, ww = x.shape
        cat = [values[v] if values[v] is not None and has_edge(parents, v, out)
               else x.new_zeros(n, self.c, hh, ww) for v in range(1, out)]
        joined = torch.cat(cat, 1)
        return joined + self.proj[str(out)](x) if has_edge(parents, 0, out) else joined


class Nb101OneShot(nn.Module):
    """oxnas's Nb101Supernet: stem conv3x3-BN-ReLU, 3 stacks of `cells_per_stack` one-shot cells (a
    2x2/2 ceil-mode max-pool and doubled C before stacks 2 and 3), ReLU-conv1x1-BN(affine=False) back
    to C, global average pooling, linear. BN with running statistics (cpu-nb101)."""

    def __init__(self, channels=8, cells_per_stack=1, classes=10, in_channels=1):
        super().__init__()
        self.stem = ConvBnRelu(in_channels, channels, 3)
        self.cells = nn.ModuleList()
        self.stack_starts = []
        c, c_in = channels, channels
        for stack in range(3):
            if stack > 0:
                c *= 2
            self.stack_starts.append(len(self.cells))
            for _ in range(cells_per_stack):
                self.cells.append(Nb101OneShotCell(c_in, c))
                c_in = c * BLOCKS
        self.postprocess = nn.Module()
        self.postprocess.conv = nn.Conv2d(c_in, c, 1, bias=False)
        self.postprocess.bn = nn.BatchNorm2d(c, affine=False)
        self.classifier = nn.Linear(c, classes)

    def weights(self):
        return list(self.parameters())

    def forward(self, x, path):
        h = self.stem(x)
        for i, cell in enumerate(self.cells):
            if i in self.stack_starts[1:]:
                h = F.max_pool2d(h, 2, 2, 0, ceil_mode=True)
            h = cell(h, path)
        h = self.postprocess.bn(self.postprocess.conv(F.relu(h)))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def nb101(channels, cells_per_stack):
    cells = nb101_cells()
    return SinglePath(Nb101OneShot(channels, cells_per_stack), lambda rng: cells[rng.integers(len(cells))],
                      lambda p: p)


# ------------------------------------------------------------------------------------------ ProxylessNAS
def add_conv_bn(parent, name, c_in, c_out, k, stride=1, groups=1):
    """A bias-free conv and its BN on `parent`, side by side as `{name}` and `{name}_bn` (oxnas's names)."""
    setattr(parent, name, nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False))
    setattr(parent, name + "_bn", nn.BatchNorm2d(c_out))


def conv_bn(module, name, x):
    return getattr(module, name + "_bn")(getattr(module, name)(x))


class MbConv(nn.Module):
    """1x1 expand (absent at expand 1) -> BN -> ReLU6, kxk depthwise with the stride -> BN -> ReLU6,
    1x1 project -> BN; the shortcut is the block's business."""

    def __init__(self, c_in, c_out, k, expand, stride):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            add_conv_bn(self, "expand", c_in, mid, 1)
        add_conv_bn(self, "depthwise", mid, mid, k, stride, groups=mid)
        add_conv_bn(self, "project", mid, c_out, 1)

    def forward(self, x):
        h = F.relu6(conv_bn(self, "expand", x)) if self.has_expand else x
        return conv_bn(self, "project", F.relu6(conv_bn(self, "depthwise", h)))


class ProxylessSupernet(nn.Module):
    """oxnas's ProxylessNetwork built as a supernet: stem conv3x3/2 + BN + ReLU6, the fixed expand-1
    3x3 MBConv, 21 blocks holding all six MBConvs (identity shortcut where the block keeps its shape,
    where `zero` skips the block), 1x1 feature mix + BN + ReLU6, global pooling, linear. Widths as
    bench/pytorch/proxyless.py (make_divisible; the feature mix stays 1280 below width 1)."""

    def __init__(self, width_mult=0.3, classes=10, in_channels=1, stage_openers=None, zero_init_residual=False):
        """`stage_openers`: the choice every block without a shortcut holds and runs (oxnas's
        `supernet.stage_openers`); `zero_init_residual`: γ = 0 at every residual MBConv's last BN."""
        super().__init__()
        stem = make_divisible(32 * width_mult)
        self.stem = nn.Module()
        add_conv_bn(self.stem, "conv", in_channels, stem, 3, stride=2)
        first = make_divisible(16 * width_mult)
        self.first_block = MbConv(stem, first, 3, 1, 1)
        self.blocks = nn.ModuleDict()
        self.shortcut, self.allowed = [], []
        width = first
        for s, (w, n, stride) in enumerate(STAGES):
            out = make_divisible(w * width_mult)
            for b in range(n):
                st = stride if b == 0 else 1
                keeps = st == 1 and width == out
                allowed = [c for c in CHOICES if CHOICES[c] is not None or keeps]
                if stage_openers and not keeps:
                    allowed = [stage_openers]
                self.blocks["s%db%d" % (s + 1, b + 1)] = nn.ModuleDict(
                    (name, MbConv(width, out, *CHOICES[name], st)) for name in allowed if CHOICES[name] is not None)
                if zero_init_residual and keeps:
                    for op in self.blocks["s%db%d" % (s + 1, b + 1)].values():
                        nn.init.zeros_(op.project_bn.weight)
                self.shortcut.append(keeps)
                self.allowed.append(allowed)
                width = out
        last = make_divisible(1280 * width_mult) if width_mult > 1.0 else 1280
        self.feature_mix = nn.Module()
        add_conv_bn(self.feature_mix, "conv", width, last, 1)
        self.classifier = nn.Linear(last, classes)

    def weights(self):
        return list(self.parameters())

    def forward(self, x, path):
        h = F.relu6(conv_bn(self.stem, "conv", x))
        h = self.first_block(h)
        for (block, shortcut, choice) in zip(self.blocks.values(), self.shortcut, path):
            if choice == "zero":
                continue
            y = block[choice](h)
            h = y + h if shortcut else y
        h = F.relu6(conv_bn(self.feature_mix, "conv", h))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def proxyless(width_mult, stage_openers=None, zero_init_residual=False):
    net = ProxylessSupernet(width_mult, stage_openers=stage_openers, zero_init_residual=zero_init_residual)

    def sample(rng):
        return tuple(a[rng.integers(len(a))] for a in net.allowed)

    return SinglePath(net, sample, lambda p: p)


# ------------------------------------------------------------------------------------------ build
def build(space, channels=None, cells=None, ops="darts", width_mult=0.3, stage_openers=None, zero_init_residual=False):
    if space == "nb201":
        return nb201(channels, cells)
    if space == "darts":
        return darts(channels, cells, ops)
    if space == "nb101":
        return nb101(channels, cells)
    if space == "proxyless":
        return proxyless(width_mult, stage_openers, zero_init_residual)
    raise ValueError("unknown space %r (nb201, darts, nb101, proxyless)" % space)


def expected_weights(space, channels, cells, ops, width_mult, stage_openers=None):
    """oxnas's weight count for these sizes when it is recorded above, else None."""
    key = {"nb201": ("nb201", channels, cells), "darts": ("darts", channels, cells, ops),
           "nb101": ("nb101", channels, cells),
           "proxyless": ("proxyless", width_mult)}.get(space)
    if space == "proxyless" and stage_openers:
        return None  # recorded for the full space only
    return OXNAS_WEIGHTS.get(key)


def compare_checkpoint(net, path):
    """Names and shapes of net's parameters and BN buffers against an oxnas supernet checkpoint's `w.`
    tensors. Returns (ok, oxnas weight count, lines)."""
    from safetensors import safe_open
    with safe_open(path, "np") as f:
        theirs = {k[2:]: tuple(f.get_slice(k).get_shape()) for k in f.keys() if k.startswith("w.")}
    ours = {k: tuple(v.shape) for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked") and not k.startswith("alphas_") and k != "arch_parameters"}
    stats = ("running_mean", "running_var")
    oxnas_weights = sum(math.prod(s) for k, s in theirs.items() if not k.endswith(stats))
    lines = []
    only_ours, only_theirs = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
    shape = sorted(k for k in set(ours) & set(theirs) if ours[k] != theirs[k])
    if only_ours:
        lines.append("only in PyTorch (%d): %s" % (len(only_ours), only_ours[:5]))
    if only_theirs:
        lines.append("only in oxnas (%d): %s" % (len(only_theirs), only_theirs[:5]))
    if shape:
        lines.append("shapes differ (%d): %s" % (len(shape), [(k, ours[k], theirs[k]) for k in shape[:5]]))
    return not lines, oxnas_weights, lines


def main():
    ap = argparse.ArgumentParser(description="weight counts (and names/shapes against an oxnas checkpoint)")
    ap.add_argument("--space", default="all", choices=["all", "nb201", "darts", "nb101", "proxyless"])
    ap.add_argument("--checkpoint", help="an oxnas supernet run's checkpoints/last.safetensors (one --space)")
    ap.add_argument("--channels", type=int)
    ap.add_argument("--cells", type=int)
    ap.add_argument("--ops", default="darts")
    ap.add_argument("--width-mult", type=float, default=0.3)
    a = ap.parse_args()
    defaults = {"nb201": (8, 1), "darts": (8, 5), "nb101": (8, 1), "proxyless": (None, None)}
    ok = True
    for space in (defaults if a.space == "all" else [a.space]):
        c, n = a.channels or defaults[space][0], a.cells or defaults[space][1]
        torch.manual_seed(0)
        sp = build(space, c, n, a.ops, a.width_mult)
        got = count_weights(sp.net)
        want = expected_weights(space, c, n, a.ops, a.width_mult)
        if a.checkpoint:
            same, want, lines = compare_checkpoint(sp.net, a.checkpoint)
            print("%s: names and shapes vs %s: %s" % (space, a.checkpoint, "identical" if same else "DIFFERENT"))
            for line in lines:
                print("  " + line)
            ok &= same
        verdict = "not recorded" if want is None else ("ok" if got == want else "MISMATCH")
        print("%s: %d weights, oxnas %s: %s" % (space, got, want, verdict))
        ok &= want is None or got == want
        # One train-mode forward of a sampled path, to show the path runs.
        import numpy as np
        y = sp.net(torch.randn(2, 1, 28, 28), sp.sample(np.random.default_rng(0)))
        assert tuple(y.shape) == (2, 10), y.shape
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
