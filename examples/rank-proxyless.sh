#!/usr/bin/env bash
# "How does supernet help in NAS?" on the ProxylessNAS mobile space, at CPU scale: train a single-path
# supernet (the reference backbone at width 0.3; each stage's first block fixed to k3e6 and residual
# blocks starting as the identity, so that it learns at this scale: see the cpu-proxyless preset) on
# the embedded Fashion-MNIST subset, score 200 sampled subnets of its 15 searched blocks with inherited
# weights, train 16 of them standalone as our own ground truth, and rank. No published ground truth
# exists for this space at this scale; the paper-scale setting is the proxyless-imagenet preset (GPU).
# Ground truth: 4 epochs on 3,000 images with the cpu-proxyless train recipe (residual blocks start
# as the identity there too).
# Writes everything under runs/rank-proxyless/. Re-running resumes.
space=proxyless
gt_args=(--set optim.epochs=4)
source "$(dirname "${BASH_SOURCE[0]}")/lib/rank-study.sh"
study_scores_and_truth
study_rank subnets
study_report
