"""Our own PyTorch version of the ProxylessNAS mobile backbone, for checking oxnas's counts.

Builds the single-path network of a subnet the way mit-han-lab/proxylessnas's SuperProxylessNASNets
lays the backbone out (first conv 3x3/2 to 32, fixed MBConv expand-1 3x3 block to 16, stages of
widths 24, 40, 80, 96, 192, 320 with 4, 4, 4, 4, 4, 1 blocks and strides 2, 2, 2, 1, 2, 1, a 1x1
feature-mix conv to 1280, global average pooling, dropout and a linear classifier; identity
shortcut on blocks that keep the shape; widths scaled with make_divisible), then counts with torch:

  params      sum(p.numel() for p in net.parameters())
  macs        forward hooks on every Conv2d and Linear: weight.numel() x output positions
              (Linear: weight.numel(), bias not counted), from the real output shapes
  macs_ref    the same with the reference profiler's output size, floor(input / stride)

and runs a forward pass to check the logits' shape. Prints one JSON object per (setting, subnet)
and, with --rust, the golden lines for crates/core's tests.

    python bench/pytorch/proxyless.py [--rust]
"""
import argparse
import json
import sys

import torch
import torch.nn as nn

STAGES = [(24, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1)]
CHOICES = {
    "k3e3": (3, 3), "k3e6": (3, 6), "k5e3": (5, 3), "k5e6": (5, 6), "k7e3": (7, 3), "k7e6": (7, 6), "zero": None,
}


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, expand, stride):
        super().__init__()
        mid = cin * expand
        layers = [] if expand == 1 else [conv_bn(cin, mid, 1)]
        layers += [conv_bn(mid, mid, k, stride, groups=mid), conv_bn(mid, cout, 1, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class ProxylessNet(nn.Module):
    """The network of one subnet: a list of choice names, one per searchable block."""

    def __init__(self, subnet, classes=1000, in_channels=3, width_mult=1.0, stages=STAGES, dropout=0.0):
        super().__init__()
        width = make_divisible(32 * width_mult)
        self.first_conv = conv_bn(in_channels, width, 3, stride=2)
        first = make_divisible(16 * width_mult)
        blocks = [MBConv(width, first, 3, 1, 1)]
        width = first
        i = 0
        for w, n, s in stages:
            out = make_divisible(w * width_mult)
            for b in range(n):
                stride = s if b == 0 else 1
                choice = CHOICES[subnet[i]]
                if choice is None:
                    if stride != 1 or width != out:
                        raise ValueError("block %d: zero not allowed" % (i + 1))
                    blocks.append(nn.Identity())
                else:
                    blocks.append(MBConv(width, out, choice[0], choice[1], stride))
                width = out
                i += 1
        if i != len(subnet):
            raise ValueError("subnet has %d choices, the backbone %d blocks" % (len(subnet), i))
        self.blocks = nn.Sequential(*blocks)
        last = make_divisible(1280 * width_mult) if width_mult > 1.0 else 1280
        self.feature_mix = conv_bn(width, last, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, classes))

    def forward(self, x):
        x = self.feature_mix(self.blocks(self.first_conv(x)))
        return self.classifier(self.pool(x).flatten(1))


def count(net, in_channels, resolution):
    macs = [0, 0]

    def hook(m, inp, out):
        if isinstance(m, nn.Linear):
            macs[0] += m.weight.numel()
            macs[1] += m.weight.numel()
            return
        macs[0] += m.weight.numel() * out.shape[2] * out.shape[3]
        h, w = inp[0].shape[2] // m.stride[0], inp[0].shape[3] // m.stride[1]
        macs[1] += m.weight.numel() * h * w

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    net.eval()
    with torch.no_grad():
        y = net(torch.zeros(1, in_channels, resolution, resolution))
    for h in hooks:
        h.remove()
    params = sum(p.numel() for p in net.parameters())
    return params, macs[0], macs[1], tuple(y.shape)


def mobile(first_stage):
    # ProxylessNAS-Mobile as published (proxyless_mobile.config, transcribed block by block in
    # osmr/imgclsmob's pytorchcv proxylessnas.py): per stage, kernel/expand or zero.
    return (["k5e3", "k3e3", "zero", "zero"][: len(first_stage)]
            + ["k7e3", "k3e3", "k5e3", "k5e3"] + ["k7e6", "k5e3", "k5e3", "k5e3"]
            + ["k5e6", "k5e3", "k5e3", "k5e3"] + ["k7e6", "k7e6", "k7e3", "k7e3"] + ["k7e6"])


def zero_where_allowed(fill):
    out = []
    for _, n, _ in STAGES:
        out += [fill] + ["zero"] * (n - 1)
    return out


SUBNETS = {
    "all_k3e3": ["k3e3"] * 21,
    "all_k7e6": ["k7e6"] * 21,
    "zero_where_allowed_k3e3": zero_where_allowed("k3e3"),
    "zero_where_allowed_k7e6": zero_where_allowed("k7e6"),
    "mobile": mobile([0] * 4),
    "mixed": "k3e6,k5e6,zero,k7e3,k5e3,zero,k3e3,k7e6,k3e6,k5e3,zero,k7e3,k7e3,k3e6,zero,k5e6,k5e6,k3e3,k7e6,zero,k3e6".split(","),
}

SETTINGS = {
    "imagenet": dict(classes=1000, in_channels=3, resolution=224, width_mult=1.0),
    "cifar10": dict(classes=10, in_channels=3, resolution=32, width_mult=1.0),
    "fmnist": dict(classes=10, in_channels=1, resolution=28, width_mult=1.0),
    "cifar10_w0.5": dict(classes=10, in_channels=3, resolution=32, width_mult=0.5),
    "imagenet_w1.4": dict(classes=1000, in_channels=3, resolution=224, width_mult=1.4),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rust", action="store_true", help="also print the golden values as Rust tuples")
    args = ap.parse_args()
    rows = []
    for sname, s in SETTINGS.items():
        for name, subnet in SUBNETS.items():
            net = ProxylessNet(subnet, s["classes"], s["in_channels"], s["width_mult"])
            params, macs, macs_ref, shape = count(net, s["in_channels"], s["resolution"])
            assert shape == (1, s["classes"]), shape
            rows.append(dict(setting=sname, subnet=name, arch=",".join(subnet), params=params, macs=macs,
                             macs_ref=macs_ref))
            print(json.dumps(rows[-1]))
    # The published ProxylessNAS-Mobile network has a 32-wide first stage (not the search space's 24):
    # its published size is 4,080,512 parameters and 320.4M FLOPs at 224x224.
    wide = [(32, 4, 2)] + STAGES[1:]
    net = ProxylessNet(SUBNETS["mobile"], stages=wide)
    params, macs, macs_ref, _ = count(net, 3, 224)
    rows.append(dict(setting="imagenet_published_mobile_widths", subnet="mobile", arch=",".join(SUBNETS["mobile"]),
                     params=params, macs=macs, macs_ref=macs_ref))
    print(json.dumps(rows[-1]))
    ok = params == 4080512 and round(macs_ref / 1e6, 1) == 320.4
    print("published ProxylessNAS-Mobile: params %d (published 4,080,512), MACs %.1fM (published 320.4M): %s"
          % (params, macs_ref / 1e6, "ok" if ok else "MISMATCH"))
    if args.rust:
        for r in rows:
            print('("%s", "%s", %d, %d),' % (r["setting"], r["subnet"], r["params"], r["macs"]))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
