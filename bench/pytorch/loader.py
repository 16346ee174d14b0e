"""Data-loader throughput baseline in PyTorch for oxnas's `Loader` (crates/core/examples/bench_loader.rs).
Prints one JSON line per transform.

torchvision is not installed here, so the three training transforms are written with torch ops, per
image, inside a `Dataset.__getitem__`, fed through `torch.utils.data.DataLoader(batch_size=64,
shuffle=True, num_workers=0)` (default collate), single-threaded (torch.set_num_threads(1)), over the
6,000 training images of oxnas's embedded Fashion-MNIST subset (uint8 28x28 in memory):

  fashion-mnist-train           pad 4 + random crop 32, horizontal flip p 0.5, /255, Normalize(0.2859, 0.3530)
  fashion-mnist-train+cutout16  the same + Cutout(16) (a 16x16 square around a random centre set to 0)
  emnist-train                  Resize(32, bilinear; values rounded as PIL does on uint8),
                                RandomAffine(±30°, translate 0.1, scale 0.8-1.2, x-shear ±30°, nearest,
                                fill 0) via affine_grid + grid_sample, /255, Normalize(0.5, 0.5)

This is how a torchvision pipeline works (per-image transforms, then collate), minus PIL: torchvision
would start from a PIL image (ToTensor at the end), which is usually slower than these tensor ops.
Random draws use Python's `random` module (torchvision draws from torch's generator; either is a
negligible share of the time).

    python bench/pytorch/loader.py --epochs 3
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import FMNIST_MEAN, FMNIST_STD, load_subset  # noqa: E402


def inverse_affine(angle, tx, ty, scale, shear_x, shear_y):
    """2x3 matrix taking an output point (relative to the image centre) to the input point it reads:
    the inverse of rotate(angle) . shear . scale, then translate (same convention as oxnas's
    AffineParams::inverse_matrix)."""
    rot, sx, sy = math.radians(angle), math.radians(shear_x), math.radians(shear_y)
    a = math.cos(rot - sy) / math.cos(sy)
    b = -math.cos(rot - sy) * math.tan(sx) / math.cos(sy) - math.sin(rot)
    c = math.sin(rot - sy) / math.cos(sy)
    d = -math.sin(rot - sy) * math.tan(sx) / math.cos(sy) + math.cos(rot)
    m = [d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0]
    m[2] = m[0] * -tx + m[1] * -ty
    m[5] = m[3] * -tx + m[4] * -ty
    return m


class Transformed(Dataset):
    def __init__(self, images, labels, kind):
        self.images = torch.from_numpy(images)  # uint8 N x 28 x 28
        self.labels = torch.from_numpy(labels)
        self.kind = kind

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i].float()
        if self.kind.startswith("fashion-mnist-train"):
            x = F.pad(img, (4, 4, 4, 4))
            top, left = random.randint(0, 4), random.randint(0, 4)  # (28 + 2*4) - 32, inclusive
            x = x[top:top + 32, left:left + 32]
            if random.random() < 0.5:
                x = x.flip(-1)
            x = (x / 255.0 - FMNIST_MEAN) / FMNIST_STD
            if self.kind.endswith("cutout16"):
                x = x.clone()
                cy, cx = random.randrange(32), random.randrange(32)
                x[max(cy - 8, 0):min(cy + 8, 32), max(cx - 8, 0):min(cx + 8, 32)] = 0.0
            return x.unsqueeze(0), self.labels[i]
        # emnist-train
        x = F.interpolate(img[None, None], size=(32, 32), mode="bilinear", align_corners=False).round()
        angle = random.uniform(-30.0, 30.0)
        tx, ty = round(random.uniform(-3.2, 3.2)), round(random.uniform(-3.2, 3.2))
        scale = random.uniform(0.8, 1.2)
        shear_x = random.uniform(-30.0, 30.0)
        m = inverse_affine(angle, tx, ty, scale, shear_x, 0.0)
        # normalised coordinates (align_corners=False): pixel offset from the centre * 2 / size
        theta = torch.tensor([[m[0], m[1], m[2] * 2 / 32], [m[3], m[4], m[5] * 2 / 32]], dtype=torch.float32)
        grid = F.affine_grid(theta[None], [1, 1, 32, 32], align_corners=False)
        x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
        x = (x[0] / 255.0 - 0.5) / 0.5
        return x, self.labels[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs per transform, after one warm-up epoch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--transforms", default="fashion-mnist-train,fashion-mnist-train+cutout16,emnist-train")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    random.seed(0)
    torch.manual_seed(0)
    images, labels = load_subset(0)
    for kind in a.transforms.split(","):
        loader = DataLoader(Transformed(images, labels, kind), batch_size=a.batch_size, shuffle=True, num_workers=0)
        rates = []
        for e in range(a.epochs + 1):
            t0 = time.perf_counter()
            n = 0
            for x, y in loader:
                n += len(y)
            dt = time.perf_counter() - t0
            if e > 0:
                rates.append(n / dt)
        rates.sort()
        print(json.dumps({"framework": "pytorch", "transform": kind, "images": n, "shape": list(x.shape[1:]),
                          "images_per_s_median": rates[len(rates) // 2], "images_per_s_max": rates[-1],
                          "epochs": a.epochs, "threads": a.threads}))


if __name__ == "__main__":
    main()
