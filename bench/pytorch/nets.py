"""PyTorch versions of the two evaluation networks oxnas trains, for the throughput benchmark.

Written for this benchmark (not copied from the reference repositories); the module tree mirrors
oxnas's crates/engine/src/nn/{ops,darts_net,nb201_net}.rs so that `state_dict()` keys are exactly the
reference names (quark0/darts NetworkCIFAR, AutoDL TinyNetwork) that oxnas imports and exports:
`stem.0.weight`, `cells.7.preprocess0.conv_1.weight`, `cells.3._ops.0.op.5.weight`,
`auxiliary_head.features.5.weight`, `cells.5.conv_a.op.1.weight`, `lastact.0.weight`, ...

- DartsNetwork(genotype, C, layers, classes, in_channels, auxiliary): quark0/darts cnn/operations.py + cnn/model.py (docs/algorithms.md#darts, #retraining).
  forward(x) -> (logits, aux_logits or None); drop-path probability in `self.drop_path_prob`,
  masks drawn from `self.drop_path_gen` (a torch.Generator) when set.
- Nb201Network(arch_str, C, N, classes, in_channels): AutoDL-Projects cell_operations.py + tiny_network.py (docs/algorithms.md#nb201). forward(x) -> logits.
"""
from collections import namedtuple

import torch
import torch.nn as nn
import torch.nn.functional as F

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")

GENOTYPES = {
    "DARTS_V2": Genotype(
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
                ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)],
        reduce_concat=[2, 3, 4, 5]),
    "FashionMNIST_1": Genotype(
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 1), ("dil_conv_3x3", 2),
                ("dil_conv_3x3", 1), ("sep_conv_3x3", 2), ("skip_connect", 0), ("sep_conv_3x3", 4)],
        normal_concat=[2, 3, 4, 5],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1), ("max_pool_3x3", 1), ("sep_conv_3x3", 2),
                ("dil_conv_3x3", 2), ("dil_conv_3x3", 3), ("dil_conv_3x3", 2), ("dil_conv_3x3", 3)],
        reduce_concat=[2, 3, 4, 5]),
}


# ------------------------------------------------------------------------------------------ ops
class Zero(nn.Module):
    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        if self.stride == 1:
            return torch.zeros_like(x)
        return torch.zeros_like(x[:, :, ::self.stride, ::self.stride])


class Identity(nn.Module):
    def forward(self, x):
        return x


class Pool(nn.Module):
    """3x3 max or average pooling (average excludes the padding), no parameters."""

    def __init__(self, kind, stride):
        super().__init__()
        self.kind, self.stride = kind, stride

    def forward(self, x):
        if self.kind == "max":
            return F.max_pool2d(x, 3, self.stride, 1)
        return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)


def _bn(c, affine=True):
    return nn.BatchNorm2d(c, affine=affine)


class ReLUConvBN(nn.Module):
    """op = [ReLU, Conv, BN] (indices 1 and 2 hold parameters)."""

    def __init__(self, c_in, c_out, k, stride=1, pad=0, bias=False):
        super().__init__()
        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, k, stride, pad, bias=bias), _bn(c_out))

    def forward(self, x):
        return self.op(x)


class DilConv(nn.Module):
    """op = [ReLU, depthwise dilated conv, 1x1 conv, BN]."""

    def __init__(self, c_in, c_out, k, stride, pad, dil):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, k, stride, pad, dilation=dil, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            _bn(c_out))

    def forward(self, x):
        return self.op(x)


class SepConv(nn.Module):
    """Two DilConv-like halves without dilation; only the first strides. Indices 1,2,3 and 5,6,7."""

    def __init__(self, c_in, c_out, k, stride, pad):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, k, stride, pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            _bn(c_in),
            nn.ReLU(),
            nn.Conv2d(c_in, c_in, k, 1, pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            _bn(c_out))

    def forward(self, x):
        return self.op(x)


class FactorizedReduce(nn.Module):
    """ReLU, then two stride-2 1x1 convs (the second shifted by one pixel) concatenated, then BN.
    Odd sizes are zero-padded at the bottom/right first, exactly as oxnas does (same values as the
    reference's plain x[:, :, 1:, 1:] slice on even sizes)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = _bn(c_out)

    def forward(self, x):
        x = F.relu(x)
        h, w = x.shape[2], x.shape[3]
        shifted = x
        if h % 2 or w % 2:
            shifted = F.pad(x, (0, w % 2, 0, h % 2))
        shifted = shifted[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def darts_op(name, c, stride):
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return Pool("max", stride)
    if name == "avg_pool_3x3":
        return Pool("avg", stride)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2)
    raise ValueError("unknown DARTS op %r" % name)


# ------------------------------------------------------------------------------------------ DARTS
def drop_path(x, prob, gen):
    """Per-sample drop-path: zero whole samples with probability `prob`, scale the rest by 1/keep."""
    keep = 1.0 - prob
    mask = (torch.rand(x.shape[0], 1, 1, 1, generator=gen) < keep).to(x.dtype).div_(keep)
    return x * mask


class EvalCell(nn.Module):
    def __init__(self, genotype, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        if reduction_prev:
            self.preprocess0 = FactorizedReduce(c_pp, c)
        else:
            self.preprocess0 = ReLUConvBN(c_pp, c, 1)
        self.preprocess1 = ReLUConvBN(c_p, c, 1)
        pairs = genotype.reduce if reduction else genotype.normal
        self.concat = list(genotype.reduce_concat if reduction else genotype.normal_concat)
        self.inputs = [i for _, i in pairs]
        self._ops = nn.ModuleList(
            darts_op(name, c, 2 if reduction and i < 2 else 1) for name, i in pairs)
        self.multiplier = len(self.concat)

    def forward(self, s0, s1, drop_prob, gen):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self._ops) // 2):
            total = None
            for k in (2 * node, 2 * node + 1):
                op = self._ops[k]
                h = op(states[self.inputs[k]])
                if self.training and drop_prob > 0 and not isinstance(op, Identity):
                    h = drop_path(h, drop_prob, gen)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """For an 8x8 input: ReLU, AvgPool(5, s3), 1x1 conv 128, BN, ReLU, 2x2 conv 768, BN, ReLU, linear."""

    def __init__(self, c, classes):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(c, 128, 1, bias=False),
            _bn(128),
            nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False),
            _bn(768),
            nn.ReLU())
        self.classifier = nn.Linear(768, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class DartsNetwork(nn.Module):
    def __init__(self, genotype, C=36, layers=20, classes=10, in_channels=3, auxiliary=False):
        super().__init__()
        stem_c = 3 * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_c, 3, padding=1, bias=False), _bn(stem_c))
        c_pp, c_p, c = stem_c, stem_c, C
        self.reductions = (layers // 3, 2 * layers // 3)
        self.cells = nn.ModuleList()
        reduction_prev = False
        c_aux = None
        for i in range(layers):
            reduction = i in self.reductions
            if reduction:
                c *= 2
            cell = EvalCell(genotype, c_pp, c_p, c, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c
            if i == self.reductions[1]:
                c_aux = c_p
        if auxiliary:
            self.auxiliary_head = AuxiliaryHead(c_aux, classes)
        self.auxiliary = auxiliary
        self.classifier = nn.Linear(c_p, classes)
        self.drop_path_prob = 0.0
        self.drop_path_gen = None

    def forward(self, x):
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob, self.drop_path_gen)
            if i == self.reductions[1] and self.auxiliary and self.training:
                aux = self.auxiliary_head(s1)
        pooled = torch.flatten(F.adaptive_avg_pool2d(s1, 1), 1)
        return self.classifier(pooled), aux


# ------------------------------------------------------------------------------------------ NB201
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def parse_nb201_arch(arch):
    """'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' -> [(op, from_node, to_node)] in edge order
    1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2 (the reference's `layers.{k}` numbering)."""
    nodes = arch.strip().split("+")
    if len(nodes) != 3:
        raise ValueError("NB201 arch needs 3 nodes separated by '+': %r" % arch)
    edges = []
    for to, node in enumerate(nodes, start=1):
        ins = [t for t in node.strip("|").split("|") if t]
        parsed = sorted((int(src), op) for op, src in (t.split("~") for t in ins))
        if [s for s, _ in parsed] != list(range(to)):
            raise ValueError("node %d must take inputs 0..%d once each: %r" % (to, to - 1, node))
        for src, op in parsed:
            if op not in NB201_OPS:
                raise ValueError("unknown NB201 op %r" % op)
            edges.append((op, src, to))
    return edges


def nb201_op(name, c):
    if name == "none":
        return Zero(1)
    if name == "skip_connect":
        return Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return Pool("avg", 1)
    raise ValueError(name)


class InferCell(nn.Module):
    def __init__(self, edges, c):
        super().__init__()
        self.edges = [(src, to) for _, src, to in edges]
        self.layers = nn.ModuleList(nb201_op(op, c) for op, _, _ in edges)

    def forward(self, x):
        nodes = [x]
        for to in (1, 2, 3):
            total = None
            for k, (src, t) in enumerate(self.edges):
                if t == to:
                    h = self.layers[k](nodes[src])
                    total = h if total is None else total + h
            nodes.append(total)
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    """Stride-2 residual reduction: conv_b(conv_a(x)) + Conv1x1(AvgPool2(x))."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2, 0), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Nb201Network(nn.Module):
    def __init__(self, arch, C=16, N=5, classes=10, in_channels=3):
        super().__init__()
        edges = parse_nb201_arch(arch)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), _bn(C))
        self.cells = nn.ModuleList()
        c_prev = C
        for stage in range(3):
            c = C << stage
            if stage > 0:
                self.cells.append(ResNetBasicBlock(c_prev, c))
            for _ in range(N):
                self.cells.append(InferCell(edges, c))
            c_prev = c
        self.lastact = nn.Sequential(_bn(c_prev), nn.ReLU())
        self.classifier = nn.Linear(c_prev, classes)

    def forward(self, x):
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = torch.flatten(F.adaptive_avg_pool2d(self.lastact(h), 1), 1)
        return self.classifier(h)


def count_params(model, exclude_aux=False):
    return sum(p.numel() for n, p in model.named_parameters()
               if not (exclude_aux and n.startswith("auxiliary_head.")))
