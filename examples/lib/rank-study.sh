# The steps every examples/rank-<space>.sh runs, sourced by them (not run on its own). Needs $space
# (as `--space` names it); the supernet preset is cpu-$space, the ground-truth preset $gt_preset
# (default cpu-$space), the run directory runs/rank-$space, the binary $OX (default ./oxnas). Extra
# `groundtruth` arguments go in gt_args; the held-out data of the two scorings in sample_eval and
# truth_eval (default 256 and 500 images); $truth_name names the ground truth in the headings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
out="runs/rank-$space"
ox="${OX:-./oxnas}"
gt_args=("${gt_args[@]+"${gt_args[@]}"}")
gt_preset="${gt_preset:-cpu-$space}"
truth_name="${truth_name:-our own Fashion-MNIST ground truth}"
declare -p sample_eval &>/dev/null || sample_eval=(--eval-images 256)
declare -p truth_eval &>/dev/null || truth_eval=(--eval-images 500)

# Supernet, 200 sampled architectures scored, and the first 16 of them trained standalone as our own
# ground truth (noisy, but the task the supernet saw), re-scored with train-mode and recalibrated BN.
study_scores_and_truth() {
  mkdir -p "$out"
  if [ -f "$out/supernet/checkpoints/last.safetensors" ]; then
    $ox supernet train --resume "$out/supernet" || true
  else
    $ox supernet train --preset "cpu-$space" --out "$out/supernet"
  fi
  $ox supernet score --run "$out/supernet" --archs sample:200 --sample-seed 1 --bn train \
    "${sample_eval[@]+"${sample_eval[@]}"}" --out "$out/scores-200.csv"
  head -n 17 "$out/scores-200.csv" > "$out/gt-list.csv"
  $ox groundtruth --space "$space" --archs "$out/gt-list.csv" --preset "$gt_preset" "${gt_args[@]+"${gt_args[@]}"}" \
    --out "$out/groundtruth.csv"
  $ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn train \
    "${truth_eval[@]+"${truth_eval[@]}"}" --out "$out/scores-sample.csv"
  $ox supernet score --run "$out/supernet" --archs "$out/groundtruth.csv" --bn recalibrate --recal-batches 10 \
    "${truth_eval[@]+"${truth_eval[@]}"}" --out "$out/scores-sample-recal.csv"
}

# τ / ρ / precision@k and the bias report, for both BN modes. $1 names the architectures ("genotypes").
study_rank() {
  echo "== 16 $1: supernet (train-mode BN) vs $truth_name =="
  $ox rank --space "$space" --scores "$out/scores-sample.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
  echo "== the same with BN recalibrated per architecture =="
  $ox rank --space "$space" --scores "$out/scores-sample-recal.csv" --truth "$out/groundtruth.csv" -k 1,3,5 --percent 10,25
}

study_report() {
  echo "== all rankings in one table (Markdown, PNG and a self-contained HTML page) =="
  $ox report ranking "$out" --out "$out/report"
}
