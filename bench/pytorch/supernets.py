"""PyTorch versions of oxnas's two weight-sharing search supernets, for the search benchmarks.

Written for this benchmark from oxnas's Rust code (crates/engine/src/search/{nb201_supernet,
darts_supernet,mixed_op,supernet}.rs and crates/engine/src/nn/ops.rs), not copied from the reference
repositories. Parameter names and shapes are the ones oxnas uses (= the reference names), so the
counts can be checked against oxnas's and the references' (`python supernets.py` does).

- Nb201Supernet(C, N, classes, in_channels, track_running_stats, affine=False)
    AutoDL's TinyNetworkDarts layout: stem conv+BN, 3 stages of N search cells with a ResNet basic
    block between stages, lastact BN+ReLU, GAP, linear. Every cell edge `cells.{k}.edges.{to}<-{from}`
    holds the 5 NB201 ops (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3); the convs
    get a bias exactly when BN is not affine. One α of 6x5 shared by all cells (`arch_parameters`).
    Two forward modes, as in oxnas: mixed (`forward(x)`: edge = sum_k softmax(α)_k op_k(x), the zero
    op skipped) and single path (`forward(x, path=[op index per edge])`: edge = op_path[e](x), the
    zero op included, used by single-path training/scoring).
- DartsSupernet(C, layers, steps, classes, in_channels, ops)
    quark0/darts model_search.Network: stem 3C, `layers` cells with reductions at layers//3 and
    2*layers//3, 14 mixed edges per cell (`cells.{i}._ops.{e}._ops.{k}`), BN affine=False (with running
    statistics) in every search op, pooling followed by BN(affine=False), FactorizedReduce
    preprocessing after a reduction, α_normal and α_reduce of 14 x len(ops).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nets import Identity, Pool, Zero  # noqa: E402  (parameter-free ops, same as the eval networks')

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), oxnas's EDGES order
DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
SGAS_ES_OPS = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def bn(c, affine, track):
    return nn.BatchNorm2d(c, affine=affine, track_running_stats=track)


class ReLUConvBN(nn.Module):
    """op = [ReLU, Conv, BN]."""

    def __init__(self, c_in, c_out, k, stride, pad, affine, track, bias=False):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, pad, bias=bias),
                                bn(c_out, affine, track))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    def __init__(self, c_in, c_out, k, stride, pad, dil, affine, track):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, k, stride, pad, dilation=dil, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            bn(c_out, affine, track))

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    def __init__(self, c_in, c_out, k, stride, pad, affine, track):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, k, stride, pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            bn(c_in, affine, track),
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, k, 1, pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            bn(c_out, affine, track))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    """ReLU, two stride-2 1x1 convs (the second shifted by one pixel; odd sizes zero-padded at the
    bottom/right first, as oxnas does), concatenated, BN."""

    def __init__(self, c_in, c_out, affine, track):
        super().__init__()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = bn(c_out, affine, track)

    def forward(self, x):
        x = F.relu(x)
        h, w = x.shape[2], x.shape[3]
        shifted = F.pad(x, (0, w % 2, 0, h % 2)) if (h % 2 or w % 2) else x
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted[:, :, 1:, 1:])], dim=1))


# ------------------------------------------------------------------------------------------ NB201
def nb201_op(name, c, affine, track):
    if name == "none":
        return Zero(1)
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0, affine, track, bias=not affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1, affine, track, bias=not affine)
    if name == "avg_pool_3x3":
        return Pool("avg", 1)
    raise ValueError(name)


class Nb201SearchCell(nn.Module):
    def __init__(self, c, affine, track):
        super().__init__()
        self.edges = nn.ModuleDict(
            ("%d<-%d" % (to, fr), nn.ModuleList(nb201_op(op, c, affine, track) for op in NB201_OPS))
            for to, fr in NB201_EDGES)
        self.keys = ["%d<-%d" % (to, fr) for to, fr in NB201_EDGES]

    def forward(self, x, weights=None, path=None):
        nodes = [x]
        for to in (1, 2, 3):
            total = None
            for e, (t, fr) in enumerate(NB201_EDGES):
                if t != to:
                    continue
                ops = self.edges[self.keys[e]]
                h = nodes[fr]
                if path is not None:
                    out = ops[path[e]](h)
                else:
                    out = None
                    for k, op in enumerate(ops):
                        if isinstance(op, Zero):  # w_k * 0 adds nothing: skipped, as oxnas does
                            continue
                        term = op(h) * weights[e, k]
                        out = term if out is None else out + term
                total = out if total is None else total + out
            nodes.append(total)
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1, True, True)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1, True, True)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Nb201Supernet(nn.Module):
    def __init__(self, C=16, N=5, classes=10, in_channels=3, track_running_stats=False, affine=False):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        c_prev = C
        for stage in range(3):
            c = C << stage
            if stage > 0:
                self.cells.append(ResNetBasicBlock(c_prev, c))
            for _ in range(N):
                self.cells.append(Nb201SearchCell(c, affine, track_running_stats))
            c_prev = c
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU())
        self.classifier = nn.Linear(c_prev, classes)
        self.arch_parameters = nn.Parameter(1e-3 * torch.randn(len(NB201_EDGES), len(NB201_OPS)))

    def weights(self):
        return [p for n, p in self.named_parameters() if n != "arch_parameters"]

    def alphas(self):
        return [self.arch_parameters]

    def forward(self, x, path=None):
        weights = None if path is not None else F.softmax(self.arch_parameters, dim=-1)
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h, weights, path) if isinstance(cell, Nb201SearchCell) else cell(h)
        h = torch.flatten(F.adaptive_avg_pool2d(self.lastact(h), 1), 1)
        return self.classifier(h)


# ------------------------------------------------------------------------------------------ DARTS
def darts_search_op(name, c, stride):
    affine, track = False, True  # oxnas BnMode::SEARCH
    if name == "none":
        return Zero(stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return nn.Sequential(Pool(name[:3], stride), bn(c, False, True))
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine, track)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1, affine, track)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2, affine, track)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2, affine, track)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2, affine, track)
    raise ValueError(name)


class MixedOp(nn.Module):
    def __init__(self, c, stride, ops):
        super().__init__()
        self._ops = nn.ModuleList(darts_search_op(name, c, stride) for name in ops)

    def forward(self, x, w):
        out = None
        for k, op in enumerate(self._ops):
            if isinstance(op, Zero):
                continue
            term = op(x) * w[k]
            out = term if out is None else out + term
        return out if out is not None else self._ops[0](x)


class DartsSearchCell(nn.Module):
    def __init__(self, steps, c_pp, c_p, c, reduction, reduction_prev, ops):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_pp, c, False, True)
        else:
            self.preprocess0 = ReLUConvBN(c_pp, c, 1, 1, 0, False, True)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, False, True)
        self.steps, self.reduction = steps, reduction
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(i + 2):
                self._ops.append(MixedOp(c, 2 if reduction and j < 2 else 1, ops))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.steps):
            total = None
            for j, h in enumerate(states):
                out = self._ops[offset + j](h, weights[offset + j])
                total = out if total is None else total + out
            offset += len(states)
            states.append(total)
        return torch.cat(states[-min(4, len(states) - 2):], dim=1)


class DartsSupernet(nn.Module):
    def __init__(self, C=16, layers=8, steps=4, classes=10, in_channels=3, ops=SGAS_ES_OPS):
        super().__init__()
        multiplier = min(steps, 4)
        stem_c = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_c, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(stem_c))
        c_pp, c_p, c = stem_c, stem_c, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c *= 2
            self.cells.append(DartsSearchCell(steps, c_pp, c_p, c, reduction, reduction_prev, ops))
            reduction_prev = reduction
            c_pp, c_p = c_p, multiplier * c
        self.classifier = nn.Linear(c_p, classes)
        edges = sum(i + 2 for i in range(steps))
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(ops)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(ops)))

    def weights(self):
        return [p for n, p in self.named_parameters() if not n.startswith("alphas_")]

    def alphas(self):
        return [self.alphas_normal, self.alphas_reduce]

    def forward(self, x):
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1))


def count_weights(model):
    return sum(p.numel() for p in model.weights())


def build(space, in_channels=1, classes=10, channels=16, cells=5, layers=8, ops=SGAS_ES_OPS,
          track_running_stats=False):
    if space == "nb201":
        return Nb201Supernet(channels, cells, classes, in_channels, track_running_stats)
    return DartsSupernet(channels, layers, 4, classes, in_channels, ops)


def build_search(a):
    """The search supernet the command-line arguments `a` describe (space, ops, channels, cells,
    layers), in train mode, with oxnas cpu-demo's two optimisers: SGD for the weights (0.025, momentum
    0.9, Nesterov, wd 5e-4) and Adam for α (3e-3, betas (0.5, 0.999), wd 1e-3).
    Returns (net, weights, alphas, w_opt, a_opt)."""
    ops = SGAS_ES_OPS if a.ops == "sgas-es" else DARTS_OPS
    net = build(a.space, in_channels=1, classes=10, channels=a.channels, cells=a.cells, layers=a.layers, ops=ops)
    # Built on the CPU, then moved (α are registered parameters, so they move in place), as oxnas does.
    net.to(getattr(a, "device", "cpu")).train()
    weights, alphas = net.weights(), net.alphas()
    w_opt = torch.optim.SGD(weights, lr=0.025, momentum=0.9, nesterov=True, weight_decay=5e-4)
    a_opt = torch.optim.Adam(alphas, lr=3e-3, betas=(0.5, 0.999), weight_decay=1e-3)
    return net, weights, alphas, w_opt, a_opt


def _check():
    """Parameter counts against oxnas's / the references' and, when /tmp/pyref has them, the key lists."""
    import os
    import sys
    ok = True
    expect = {("nb201", 3): 1692826, ("darts", 3): 927994}
    for (space, cin), want in expect.items():
        got = count_weights(build(space, in_channels=cin))
        print("%s search supernet, %d input channels: %d weights (expected %d) %s"
              % (space, cin, got, want, "ok" if got == want else "MISMATCH"))
        ok &= got == want
    for space, diff in (("nb201", 16 * 9), ("darts", 48 * 9)):  # the stem conv's 3 -> 1 input channels
        got = count_weights(build(space, in_channels=1))
        want = expect[(space, 3)] - 2 * diff
        print("%s search supernet, 1 input channel: %d weights (expected %d) %s"
              % (space, got, want, "ok" if got == want else "MISMATCH"))
        ok &= got == want
    ref = sys.argv[1] if len(sys.argv) > 1 else "/tmp/pyref"
    for space, fname in (("nb201", "keys_nb201_search.txt"), ("darts", "keys_darts_search5.txt")):
        path = os.path.join(ref, fname)
        if not os.path.exists(path):
            print("%s: not found, key check skipped" % path)
            continue
        want = {}
        for line in open(path):
            k, shape = line.split(" ", 1)
            want[k] = [int(s) for s in shape.strip(" []\n").split(",") if s.strip()]
        m = build(space, in_channels=3)
        got = {k: list(v.shape) for k, v in m.state_dict().items()
               if k not in ("alphas_normal", "alphas_reduce") and not k.endswith("num_batches_tracked")}
        want = {k: v for k, v in want.items() if k != "arch_parameters" and not k.endswith("num_batches_tracked")}
        got.pop("arch_parameters", None)
        same = got == want
        print("%s: %d state_dict keys vs %d in %s: %s" % (space, len(got), len(want), fname,
                                                          "identical names and shapes" if same else "DIFFERENT"))
        if not same:
            print("  only ours:", sorted(set(got) - set(want))[:5], " only reference:", sorted(set(want) - set(got))[:5])
            print("  shape differs:", [k for k in got if k in want and got[k] != want[k]][:5])
        ok &= same
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if _check() else 1)
