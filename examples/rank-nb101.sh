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
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=runs/rank-nb101
ox="${OX:-./oxnas}"
mkdir -p "$out"

if [ -f "$out/supernet/checkpoints/last.safetensors" ]; then
  $ox supernet train --resume "$out/supernet" || true
else
  $ox supernet train --preset cpu-nb101 --out "$out/supernet"
fi
$ox supernet score --run "$out/supernet" --archs sample:200 --sample-seed 1 --bn train --eval-images 256 \
  --out "$out/scores-200.csv"
# Ground truth of our own: the first 16 of those 200 cells, each trained standalone with the cpu-nb101
# recipe for 2 epochs on 3,000 images: noisy, but the task the supernet saw.
head -n 17 "$out/scores-200.csv" > "$out/gt-list.csv"
$ox groundtruth --space nb101 --archs "$out/gt-list.csv" --preset cpu-nb101 \
  --set optim.epochs=2 --set data.train_limit=3000 --out "$out/groundtruth.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn train --eval-images 500 \
  --out "$out/scores-sample.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn recalibrate --recal-batches 10 \
  --eval-images 500 --out "$out/scores-sample-recal.csv"

echo "== 16 cells: supernet (train-mode BN) vs our own Fashion-MNIST ground truth =="
$ox rank --space nb101 --scores "$out/scores-sample.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
echo "== the same with BN recalibrated per cell =="
$ox rank --space nb101 --scores "$out/scores-sample-recal.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
if [ -n "${NB101_TABLE:-}" ]; then
  echo "== 200 cells: supernet vs NAS-Bench-101 (CIFAR-10 test accuracy, 108 epochs, mean of repeats) =="
  $ox rank --space nb101 --scores "$out/scores-200.csv" --truth "nb101:$NB101_TABLE@108" -k 1,5,10 --percent 5,10
else
  echo "(NB101_TABLE not set: no NAS-Bench-101 table, so the ranking above is against our own ground truth only)"
fi
echo "== both rankings in one table (Markdown, PNG and a self-contained HTML page) =="
$ox report ranking "$out" --out "$out/report"
