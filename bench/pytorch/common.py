"""Shared helpers of the search/supernet benchmarks: the embedded Fashion-MNIST subset as oxnas reads it,
oxnas's train/valid split, its `fashion-mnist-eval` transform, and the loss."""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_throughput import SUBSET, FMNIST_MEAN, FMNIST_STD, read_idx  # noqa: E402,F401


def load_subset(train_limit, data=SUBSET):
    """The first `train_limit` training images (uint8 N x 28 x 28) and labels (int64)."""
    images = read_idx(os.path.join(data, "train-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data, "train-labels-idx1-ubyte.gz"))
    if train_limit:
        images, labels = images[:train_limit], labels[:train_limit]
    return images, labels


def start(threads, seed, train_limit):
    """What every benchmark script does first: pin torch's threads, seed it, load the first
    `train_limit` images and split them as oxnas does. Returns (images, labels, first_idx, second_idx)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    images, labels = load_subset(train_limit)
    return (images, labels) + split_by_portion(len(images))


def split_by_portion(n, portion=0.5):
    """oxnas's (and DARTS's) split: the first floor(portion*n) indices train w, the rest are for α."""
    k = int(np.floor(portion * n))
    return np.arange(k), np.arange(k, n)


def eval_transform(images_u8):
    """`fashion-mnist-eval`: to_float (/255) + Normalize(0.2859, 0.3530), 28x28, as one batch tensor."""
    x = torch.from_numpy(images_u8).float().unsqueeze(1)
    return (x / 255.0 - FMNIST_MEAN) / FMNIST_STD


def cross_entropy(logits, y):
    return F.cross_entropy(logits, y)
