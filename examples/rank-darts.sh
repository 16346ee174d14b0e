#!/usr/bin/env bash
# "How does supernet help in NAS?" on the DARTS CIFAR-10 space, at CPU scale: train a single-path
# supernet over DARTS genotypes (8 ops, normal and reduce cells) on the embedded Fashion-MNIST subset,
# score 200 sampled genotypes with inherited weights, train 16 of them standalone as our own ground
# truth, and rank. There is no embedded benchmark for this space: bring NDS's DARTS models with
# `--truth nds:DARTS.json` to rank CIFAR-10 runs against published accuracies.
# Writes everything under runs/rank-darts/ (see docs/ranking.md for the time it took). Re-running resumes.
# Ground truth: 2 epochs on 3,000 images with the cpu-darts train recipe (C=8, 5 cells).
space=darts
gt_args=(--set optim.epochs=2 --set data.train_limit=3000)
source "$(dirname "${BASH_SOURCE[0]}")/lib/rank-study.sh"
study_scores_and_truth
study_rank genotypes
study_report
