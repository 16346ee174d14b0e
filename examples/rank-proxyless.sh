#!/usr/bin/env bash
# "How does supernet help in NAS?" on the ProxylessNAS mobile space, at CPU scale: train a single-path
# supernet (the reference backbone at width 0.3, 21 searchable blocks, six MBConv choices each plus
# `zero` where the reference allows it) on the embedded Fashion-MNIST subset, score 200 sampled subnets
# with inherited weights, train 16 of them standalone with the cpu-proxyless recipe (2 epochs on 3,000
# images) as our own ground truth, and rank. No published ground truth exists for this space at this
# scale; the paper-scale setting is the proxyless-imagenet preset (GPU).
# Writes everything under runs/rank-proxyless/. Re-running resumes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=runs/rank-proxyless
ox="${OX:-./oxnas}"
mkdir -p "$out"

if [ -f "$out/supernet/checkpoints/last.safetensors" ]; then
  $ox supernet train --resume "$out/supernet" || true
else
  $ox supernet train --preset cpu-proxyless --out "$out/supernet"
fi
$ox supernet score --run "$out/supernet" --archs sample:200 --sample-seed 1 --bn train --eval-images 256 \
  --out "$out/scores-200.csv"
head -n 17 "$out/scores-200.csv" > "$out/gt-list.csv"
$ox groundtruth --space proxyless --archs "$out/gt-list.csv" --preset cpu-proxyless --out "$out/groundtruth.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn train --eval-images 500 \
  --out "$out/scores-sample.csv"
$ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn recalibrate --recal-batches 10 \
  --eval-images 500 --out "$out/scores-sample-recal.csv"

echo "== 16 subnets: supernet (train-mode BN) vs our own Fashion-MNIST ground truth =="
$ox rank --space proxyless --scores "$out/scores-sample.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
echo "== the same with BN recalibrated per subnet =="
$ox rank --space proxyless --scores "$out/scores-sample-recal.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
echo "== both rankings in one table (Markdown, PNG and a self-contained HTML page) =="
$ox report ranking "$out" --out "$out/report"
