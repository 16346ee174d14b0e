#!/usr/bin/env python3
"""A PyTorch port of the NAS-Bench-101 evaluation network, to check oxnas's analytic parameter and
FLOP counts (crates/core/src/nb101/model.rs) against a network that really runs.

Written from the description of the benchmark's model builder: a 128-channel conv3x3-BN-ReLU stem;
3 stacks of 3 cells with a 2x2/2 max-pool and doubled channels before stacks 2 and 3; inside a cell
the output channels are split among the vertices feeding the output (first ones get the remainder),
other vertices take the widest vertex they feed, inputs from vertices are truncated to the
receiver's width, inputs from the cell input go through a 1x1 conv-BN-ReLU projection, vertices
sum their inputs, the output concatenates and adds a projection of the input when the input feeds
it; then global average pooling and a dense classifier.

    .bench-venv/bin/python bench/pytorch/nb101_model.py        # one JSON line per cell

Parameters: torch's count of trainable tensors (BN running statistics are buffers, not counted).
FLOPs: multiply-accumulates of Conv2d and Linear layers for one 3x32x32 image, measured with forward
hooks on an actual forward pass.
"""
import json
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from nb101_golden import C1, C3, MP, CELLS, prune, short  # noqa: E402


class ConvBnRelu(nn.Sequential):
    def __init__(self, cin, cout, k):
        super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


def widths(m, cin, cout):
    n = len(m)
    ch = [0] * n
    ch[0], ch[-1] = cin, cout
    if n == 2:
        return ch
    feeders = [v for v in range(1, n - 1) if m[v][n - 1]]
    base, rem = divmod(cout, len(feeders))
    for i, v in enumerate(feeders):
        ch[v] = base + (1 if i < rem else 0)
    for v in range(n - 2, 0, -1):
        if not m[v][n - 1]:
            ch[v] = max(ch[d] for d in range(v + 1, n - 1) if m[v][d])
    return ch


class Cell(nn.Module):
    def __init__(self, m, ops, cin, cout):
        super().__init__()
        self.m, self.n = m, len(m)
        self.ch = widths(m, cin, cout)
        self.proj = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for v in range(1, self.n - 1):
            if m[0][v]:
                self.proj[str(v)] = ConvBnRelu(cin, self.ch[v], 1)
            if ops[v] == C3:
                self.ops[str(v)] = ConvBnRelu(self.ch[v], self.ch[v], 3)
            elif ops[v] == C1:
                self.ops[str(v)] = ConvBnRelu(self.ch[v], self.ch[v], 1)
            else:
                assert ops[v] == MP
                self.ops[str(v)] = nn.MaxPool2d(3, 1, 1)
        if m[0][self.n - 1]:
            self.proj[str(self.n - 1)] = ConvBnRelu(cin, cout, 1)

    def forward(self, x):
        n, m = self.n, self.m
        t = [x]
        concat = []
        for v in range(1, n - 1):
            parts = [t[u][:, : self.ch[v]] for u in range(1, v) if m[u][v]]
            if m[0][v]:
                parts.append(self.proj[str(v)](x))
            t.append(self.ops[str(v)](sum(parts)))
            if m[v][n - 1]:
                concat.append(t[v])
        if not concat:
            return self.proj[str(n - 1)](x)
        out = torch.cat(concat, 1)
        if m[0][n - 1]:
            out = out + self.proj[str(n - 1)](x)
        return out


class Network(nn.Module):
    def __init__(self, matrix, ops, classes=10, stem=128, stacks=3, cells=3):
        super().__init__()
        m, o = prune(matrix, ops)
        layers = [ConvBnRelu(3, stem, 3)]
        c = stem
        for s in range(stacks):
            cin = c
            if s > 0:
                layers.append(nn.MaxPool2d(2, 2))
                c *= 2
            for _ in range(cells):
                layers.append(Cell(m, o, cin, c))
                cin = c
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(self.body(x).mean((2, 3)))


def measure(matrix, ops, classes=10):
    net = Network(matrix, ops, classes).eval()
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    macs = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            macs[0] += out.numel() * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            macs[0] += mod.in_features * mod.out_features

    for mod in net.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            mod.register_forward_hook(hook)
    with torch.no_grad():
        y = net(torch.randn(1, 3, 32, 32))
    assert y.shape == (1, classes)
    return params, macs[0]


I, O = "input", "output"
# More cells than the hash tests need, chosen to exercise each rule of the builder.
EXTRA = {
    # Three vertices feed the output (128/3, 256/3, 512/3 leave remainders), the input feeds it too.
    "remainder3": ([[0, 1, 1, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5], [I, C3, C1, MP, O]),
    # A vertex that feeds only other vertices takes the widest of them; truncation on 1→3.
    "widest": ([[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5], [I, C3, C1, C3, O]),
    # Only pools: no parameters inside cells but the projections.
    "pools": ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0] * 4], [I, MP, MP, O]),
    # Input to output only: every cell is one projection.
    "skip": ([[0, 1], [0, 0]], [I, O]),
}


if __name__ == "__main__":
    torch.manual_seed(0)
    for name, (m, o) in {**CELLS, **EXTRA}.items():
        params, flops = measure(m, o)
        pm, po = prune(m, o)
        print(json.dumps({"name": name, "cell": short(pm, po), "params": params, "flops": flops}))
    params, flops = measure(*CELLS["readme"], classes=100)
    print(json.dumps({"name": "readme, 100 classes", "params": params, "flops": flops}))
