#!/usr/bin/env bash
# "How does supernet help in NAS?" on NAS-Bench-101, at CPU scale: train a single-path supernet over
# NAS-Bench-1Shot1's search space 1 (2,685 distinct cells, fixed channel widths) on the embedded
# Fashion-MNIST subset, score 200 sampled cells with inherited weights, train 16 of them standalone as
# our own ground truth (the benchmark's network at a 16-channel stem, one cell per stack), and rank.
#
# The official NAS-Bench-101 file (nasbench_only108.tfrecord, ~500 MB) is not shipped, so by default
# the ranking is against our own Fashion-MNIST ground truth only. With the file imported
# (`oxnas bench import nb101 nasbench_only108.tfrecord`), set NB101_TABLE to the table it wrote and
# the script also ranks the 200 scores against the benchmark's CIFAR-10 test accuracy at 108 epochs.
# Writes everything under runs/rank-nb101/. Re-running resumes.
# Ground truth: 2 epochs on 3,000 images with the cpu-nb101 recipe.
space=nb101
gt_args=(--set optim.epochs=2 --set data.train_limit=3000)
source "$(dirname "${BASH_SOURCE[0]}")/lib/rank-study.sh"
study_scores_and_truth
study_rank cells
if [ -n "${NB101_TABLE:-}" ]; then
  echo "== 200 cells: supernet vs NAS-Bench-101 (CIFAR-10 test accuracy, 108 epochs, mean of repeats) =="
  $ox rank --space nb101 --scores "$out/scores-200.csv" --truth "nb101:$NB101_TABLE@108" -k 1,5,10 --percent 5,10
else
  echo "(NB101_TABLE not set: no NAS-Bench-101 table, so the ranking above is against our own ground truth only)"
fi
study_report
