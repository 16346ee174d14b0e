"""Golden numbers for oxnas's DARTS language model, produced by the reference code itself.

    python bench/pytorch/darts_rnn_golden.py --darts-repo /path/to/quark0/darts [--out DIR]

Imports quark0/darts `rnn/model.py` and `rnn/model_search.py` (commit f276dd3) from the given
checkout; nothing of it is copied here. Two shims let that 2018 code run under torch 2.11 on a CPU,
without changing what it computes in evaluation mode:
- `embedded_dropout` reaches into `embed._backend`, which torch removed; with dropout 0 (evaluation)
  it is a plain embedding lookup, which is what the shim does;
- the search model moves α to CUDA when it creates it; `Tensor.cuda` is made the identity.

Writes into DIR (default crates/engine/tests/fixtures):
- darts_rnn_v2_v20_h16.safetensors: the reference model's state dict (torch.manual_seed(0) init)
  for DARTS_V2, vocabulary 20, embedding = hidden = 16;
- darts_rnn_search_v20_h16.safetensors: the same for the search model (seed 1), α under `alpha`;
- darts_rnn_golden.json: its evaluation-mode log-probabilities for two consecutive windows of a fixed
  token sequence (the state carried from the first to the second), and the parameter counts
  (`sum(p.nelement() for p in model.parameters())`, as the reference's training scripts log them)
  of the evaluation models at PTB size and of the search model at search size; the search model's
  log-probabilities and the genotype its `genotype()` derives from α.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file


def load_reference(repo):
    sys.path.insert(0, os.path.join(repo, "rnn"))
    import utils  # noqa: E402  (the reference's rnn/utils.py)

    def embedded_dropout(embed, words, dropout=0.1, scale=None):
        assert not dropout, "the shim covers evaluation (dropout 0) only"
        return F.embedding(words, embed.weight)

    utils.embedded_dropout = embedded_dropout
    import model  # noqa: E402
    model.embedded_dropout = embedded_dropout
    torch.Tensor.cuda = lambda self, *a, **k: self
    import genotypes  # noqa: E402
    import model_search  # noqa: E402
    return model, model_search, genotypes


def count(m):
    return sum(p.nelement() for p in m.parameters())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--darts-repo", required=True)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "../../crates/engine/tests/fixtures"))
    a = ap.parse_args()
    model, model_search, genotypes = load_reference(a.darts_repo)

    torch.manual_seed(0)
    lm = model.RNNModel(20, 16, 16, 16, 0.75, 0.25, 0.75, 0.2, 0.1, cell_cls=model.DARTSCell,
                        genotype=genotypes.DARTS_V2)
    lm.eval()
    tokens = torch.tensor([[(7 * t + 3 * b) % 20 for b in range(3)] for t in range(6)])  # [T=6, B=3]
    with torch.no_grad():
        h0 = lm.init_hidden(3)
        first, h1 = lm(tokens[:4], h0)
        second, _ = lm(tokens[4:], h1)
    # Cloned: safetensors refuses shared storage, and the tied decoder.weight is encoder.weight.
    state = {k: v.clone().contiguous() for k, v in lm.state_dict().items()}
    save_file(state, os.path.join(a.out, "darts_rnn_v2_v20_h16.safetensors"))

    # The search model: α drawn at full scale (not the reference's 1e-3) so the mixture is far from
    # uniform, and BN running statistics randomised so that evaluation-mode BN is not the identity.
    torch.manual_seed(1)
    search = model_search.RNNModelSearch(20, 16, 16, 16, 0.75, 0.25, 0.75, 0.2, 0.0)
    search.weights.data.copy_(torch.randn(36, 5))
    bn = search.rnns[0].bn
    bn.running_mean.copy_(torch.randn(16) * 0.1)
    bn.running_var.copy_(torch.rand(16) + 0.5)
    search.eval()
    with torch.no_grad():
        h0 = search.init_hidden(3)
        s_first, s_h1 = search(tokens[:4], h0)
        s_second, _ = search(tokens[4:], s_h1)
    s_state = {k: v.clone().contiguous() for k, v in search.state_dict().items()}
    s_state["alpha"] = search.weights.detach().clone()
    save_file(s_state, os.path.join(a.out, "darts_rnn_search_v20_h16.safetensors"))

    counts = {}
    for name in ["DARTS_V1", "DARTS_V2"]:
        g = getattr(genotypes, name)
        counts[name + "_ptb_850"] = count(model.RNNModel(10000, 850, 850, 850, cell_cls=model.DARTSCell, genotype=g))
    counts["search_ptb_300"] = count(model_search.RNNModelSearch(10000, 300, 300, 300, 0.75, 0.25, 0.75, 0.2, 0.0))
    golden = {
        "reference": "quark0/darts f276dd3 rnn/model.py, rnn/model_search.py; torch " + torch.__version__,
        "tokens": tokens.tolist(),
        "windows": [4, 2],
        "log_probs": [first.tolist(), second.tolist()],
        "state_dict_keys": sorted(state),
        "search_log_probs": [s_first.tolist(), s_second.tolist()],
        "search_state_dict_keys": sorted(s_state),
        "search_genotype": str(search.genotype()),
        "params": counts,
    }
    with open(os.path.join(a.out, "darts_rnn_golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
