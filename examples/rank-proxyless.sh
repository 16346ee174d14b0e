#!/usr/bin/env bash
# "How does supernet help in NAS?" on the ProxylessNAS mobile space, at CPU scale: train a single-path
# supernet (the reference backbone at width 0.3, 21 searchable blocks, six MBConv choices each plus
# `zero` where the reference allows it) on the embedded Fashion-MNIST subset, score 200 sampled subnets
# with inherited weights, train 16 of them standalone with the cpu-proxyless recipe (2 epochs on 3,000
# images) as our own ground truth, and rank. No published ground truth exists for this space at this
# scale; the paper-scale setting is the proxyless-imagenet preset (GPU).
# Writes everything under runs/rank-proxyless/. Re-running resumes.
space=proxyless
source "$(dirname "${BASH_SOURCE[0]}")/lib/rank-study.sh"
study_scores_and_truth
study_rank subnets
study_report
