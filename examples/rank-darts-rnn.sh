#!/usr/bin/env bash
# "How does supernet help in NAS?" on the DARTS-PTB space (the recurrent cell), at CPU scale: train a
# single-path supernet over recurrent genotypes (each node's input and activation drawn uniformly per
# BPTT window) on the embedded King James corpus, score 200 sampled genotypes by validation
# perplexity with inherited weights, retrain 16 of them standalone as the ground truth (test
# perplexity), and rank. Both perplexities are lower-is-better, which `oxnas rank` takes from the
# space. With Penn Treebank, pass --data-dir to both presets' runs (data.data_dir) instead.
# Writes everything under runs/rank-darts-rnn/ (see docs/ranking.md for the time it took). Re-running
# resumes.
# Ground truth: 3 epochs of the cpu-darts-rnn-gt language-model recipe (hidden 32, as the supernet).
space=darts-rnn
gt_preset=cpu-darts-rnn-gt
truth_name="standalone test perplexity on the embedded corpus"
# Every genotype is scored on the whole validation split (16,272 tokens).
sample_eval=()
truth_eval=()
source "$(dirname "${BASH_SOURCE[0]}")/lib/rank-study.sh"
study_scores_and_truth
study_rank genotypes
study_report
