#!/usr/bin/env bash
# "How does supernet help in NAS?" on a laptop CPU: train a small single-path supernet over the
# NAS-Bench-201 space on the embedded Fashion-MNIST subset, score all 6,466 isomorphism classes with
# inherited weights, build a small ground truth of our own by training a sample of cells standalone,
# and rank the supernet's scores against it and against the NAS-Bench-201 CIFAR-10 column.
# Writes everything under runs/rank-fashion-mnist/ (about 15 minutes on 2 cores; scoring all 6,466 classes is most of it). Re-running resumes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=runs/rank-fashion-mnist
ox="${OX:-./oxnas}"
mkdir -p "$out"

if [ -f "$out/supernet/checkpoints/last.safetensors" ]; then
  $ox supernet train --resume "$out/supernet" || true
else
  $ox supernet train --preset cpu-nb201 --out "$out/supernet"
fi
$ox supernet score --run "$out/supernet" --archs classes --bn train --eval-images 256 --out "$out/scores-classes.csv"
# Ground truth of our own: 16 cells sampled from the space, each trained standalone for 2 epochs on
# 3,000 images (a short recipe: noisy, but it is the same task the supernet saw).
$ox groundtruth --archs sample:16 --sample-seed 1 --preset cpu-smoke \
  --set optim.epochs=2 --set data.train_limit=3000 --set model.channels=8 --out "$out/groundtruth.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn train --eval-images 500 --out "$out/scores-sample.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn recalibrate --recal-batches 10 --eval-images 500 --out "$out/scores-sample-recal.csv"

echo "== all 6,466 classes vs NAS-Bench-201 CIFAR-10 (200 epochs) =="
$ox rank --scores "$out/scores-classes.csv" --truth cifar10_test_200ep -k 1,5,10,50,100 --percent 1,5,10 --channels 8
echo "== sample vs our own Fashion-MNIST ground truth (train-mode BN) =="
$ox rank --scores "$out/scores-sample.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25 --channels 8
echo "== sample vs our own ground truth (BN recalibrated per cell) =="
$ox rank --scores "$out/scores-sample-recal.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25 --channels 8
echo "== our own ground truth vs NAS-Bench-201 CIFAR-10 (does the proxy task agree with the benchmark?) =="
awk -F, 'NR==1 {print "index,arch_str,score"; next} {print $1","$2","$3}' "$out/groundtruth.csv" > "$out/groundtruth-as-scores.csv"
$ox rank --scores "$out/groundtruth-as-scores.csv" --truth cifar10_test_200ep -k 1,3,5 --percent 10,25 --channels 8
echo "== all the rankings above in one table (Markdown, PNG and a self-contained HTML page) =="
$ox report ranking "$out" --out "$out/report"
