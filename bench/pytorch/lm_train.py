"""Language-model retraining throughput of a PyTorch DARTS_V2 recurrent language model, the workload of
`oxnas lm train --preset cpu-darts-rnn` (crates/engine/src/lm/trainer.rs, crates/engine/src/nn/rnn_lm.rs).

Trains ONE epoch (or the first --windows windows of it) on oxnas's embedded King James corpus in PTB
form and prints ONE JSON line at the end:
  tokens_per_s   training tokens / training seconds, every window from the first (cold start included),
                 like oxnas's per-epoch `tokens_per_s` (which also leaves out setup and evaluation)
  train_loss     mean NLL per training token (TAR not included), as oxnas's `train_loss`
A window's time covers: the forward over the window, the loss (+ TAR), backward, grad clipping, the SGD
update, and reading the loss back (oxnas reads it back every window too).

What is the same as oxnas (defaults = the cpu-darts-rnn preset):
  data      ptb.train.txt.gz of crates/core/assets/kjv-ptb: each line's words (split on whitespace) then
            `<eos>`, ids in order of first appearance; cut into --batch-size (64) contiguous columns
  windows   from row 0 while start + 2 < rows; length: centre bptt (35) with prob 0.95 else bptt/2, then
            max(5, int(normal(centre, 5))), at most bptt + max_seq_len_delta (55), cut to rows-1-start.
            Drawn from our own seeded numpy stream, so the lengths are not oxnas's (same distribution)
  model     embedding vocab x hidden (96), uniform +-0.04; the decoder uses the embedding matrix as its
            weight, plus a bias (0); the DARTS_V2 cell, unrolled one step at a time as oxnas does:
            node 0 = highway from [x_t, h_{t-1}] @ W0 (2H x 2H) with tanh; nodes 1..8 each from one
            predecessor through its own W_i (H x 2H); h_t = mean of nodes 1..8; log_softmax over the words
  dropouts  embedding rows (0.05), locked on the embedded input (0.1) and on the cell output (0.3), and
            per sequence inside the cell on x_t (0.2) and on every state a node reads, h_{t-1} too (0.1)
  loss      NLL + 1e-3 * mean((raw[1:] - raw[:-1])^2) over the undropped cell outputs (TAR)
  optimiser clip the global grad norm at 0.25, then plain SGD (no momentum), weight decay 8e-7, lr 20 scaled
            by window length / bptt; the hidden state is carried (detached), zero at the epoch start
Different: random streams (window lengths, dropout masks, initial weights), so losses agree only
statistically; oxnas reseeds its dropout generator per window, we seed torch once.

    python bench/pytorch/lm_train.py --threads 2              # one epoch
    python bench/pytorch/lm_train.py --windows 10 --threads 1 # a quick check
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "crates", "core", "assets", "kjv-ptb")
EOS = "<eos>"
INIT_RANGE = 0.04
# DARTS_V2: (activation, predecessor) of nodes 1..8; the output averages nodes 1..8.
DARTS_V2 = [("sigmoid", 0), ("relu", 1), ("relu", 1), ("identity", 1), ("tanh", 2), ("sigmoid", 5),
            ("tanh", 3), ("relu", 5)]
CONCAT = list(range(1, 9))
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "identity": lambda t: t}


def read_tokens(path):
    """Word ids of a PTB-form text (gzipped or not), the vocabulary grown in order of first appearance."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":  # a final newline ends the last line, it does not start another
        lines.pop()
    vocab, ids = {}, []
    for line in lines:
        for word in line.rstrip("\r").split() + [EOS]:
            ids.append(vocab.setdefault(word, len(vocab)))
    return ids, vocab


def columns(ids, batch):
    """The stream as `batch` contiguous columns: [rows, batch], row t of column b = token b * rows + t."""
    rows = len(ids) // batch
    return torch.tensor(ids[:rows * batch], dtype=torch.int64).view(batch, rows).t().contiguous()


def window_plan(rows, bptt, max_delta, rng):
    """(start, length) of every training window of one epoch."""
    plan, start = [], 0
    while start + 2 < rows:
        centre = bptt if rng.random() < 0.95 else bptt / 2.0
        length = min(max(5, int(rng.normal(centre, 5.0))), bptt + max_delta)
        length = min(length, rows - 1 - start)
        plan.append((start, length))
        start += length
    return plan


def keep_mask(shape, p, like):
    """Scaled Bernoulli keep mask of dropout probability p (all ones when p == 0)."""
    m = torch.ones(shape, dtype=like.dtype, device=like.device)
    return m.bernoulli_(1.0 - p).div_(1.0 - p) if p > 0 else m


class DartsRnnLm(nn.Module):
    def __init__(self, vocab, hidden, dropouts, genotype=DARTS_V2, concat=CONCAT):
        super().__init__()
        self.vocab, self.hidden, self.p = vocab, hidden, dropouts
        self.genotype, self.concat = genotype, concat
        u = lambda *shape: nn.Parameter(torch.empty(*shape).uniform_(-INIT_RANGE, INIT_RANGE))
        self.embedding = u(vocab, hidden)           # also the decoder's weight
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        self.w0 = u(2 * hidden, 2 * hidden)         # [x_t, h_{t-1}] -> [gate, candidate]
        self.ws = nn.ParameterList([u(hidden, 2 * hidden) for _ in genotype])

    @staticmethod
    def _update(s, ch, hidden, act):
        gate, cand = torch.split(ch, hidden, dim=-1)
        return s + torch.sigmoid(gate) * (act(cand) - s)

    def _cell(self, x, h, mx, mh):
        states = [self._update(h, torch.cat([x * mx, h * mh], -1).mm(self.w0), self.hidden, torch.tanh)]
        for (op, pred), w in zip(self.genotype, self.ws):
            s = states[pred]
            states.append(self._update(s, (s * mh).mm(w), self.hidden, ACTIVATIONS[op]))
        return torch.stack([states[i] for i in self.concat], -1).mean(-1)

    def forward(self, tokens, h0):
        """tokens [T, B], h0 [B, H] -> (log-probs [T*B, vocab], raw cell outputs [T, B, H])."""
        p, (steps, batch), H = self.p, tokens.shape, self.hidden
        weight = self.embedding
        if p["embedding"] > 0:
            weight = weight * keep_mask((self.vocab, 1), p["embedding"], weight)
        emb = F.embedding(tokens, weight)
        if p["input"] > 0:
            emb = emb * keep_mask((1, batch, H), p["input"], emb)
        mx = keep_mask((batch, H), p["x"], self.embedding)
        mh = keep_mask((batch, H), p["hidden"], self.embedding)
        h, outs = h0, []
        for t in range(steps):
            h = self._cell(emb[t], h, mx, mh)
            outs.append(h)
        raw = torch.stack(outs, 0)
        out = raw * keep_mask((1, batch, H), p["output"], raw) if p["output"] > 0 else raw
        logits = out.view(-1, H).matmul(self.embedding.t()) + self.decoder_bias
        return F.log_softmax(logits, -1), raw


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=96, help="embedding = hidden size")
    ap.add_argument("--batch-size", type=int, default=64, help="columns")
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--max-seq-len-delta", type=int, default=20)
    ap.add_argument("--lr", type=float, default=20.0, help="per window: lr * len / bptt")
    ap.add_argument("--weight-decay", type=float, default=8e-7)
    ap.add_argument("--grad-clip", type=float, default=0.25)
    ap.add_argument("--temporal-reg", type=float, default=1e-3, help="TAR weight")
    ap.add_argument("--dropout-output", type=float, default=0.3)
    ap.add_argument("--dropout-hidden", type=float, default=0.1)
    ap.add_argument("--dropout-x", type=float, default=0.2)
    ap.add_argument("--dropout-input", type=float, default=0.1)
    ap.add_argument("--dropout-embedding", type=float, default=0.05)
    ap.add_argument("--windows", type=int, default=0, help="stop after N windows (0 = the whole epoch)")
    ap.add_argument("--data", default=os.path.join(CORPUS, "ptb.train.txt.gz"), help="training text, PTB form")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true", help="print every window's loss to stderr")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ids, vocab = read_tokens(a.data)
    data = columns(ids, a.batch_size)
    rows = data.shape[0]
    plan = window_plan(rows, a.bptt, a.max_seq_len_delta, np.random.default_rng(a.seed))
    if a.windows:
        plan = plan[:a.windows]
    dropouts = dict(output=a.dropout_output, hidden=a.dropout_hidden, x=a.dropout_x, input=a.dropout_input,
                    embedding=a.dropout_embedding)
    model = DartsRnnLm(len(vocab), a.hidden, dropouts)
    model.train()
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.0, weight_decay=a.weight_decay)

    hidden = torch.zeros(a.batch_size, a.hidden)
    losses, times, nll_sum, tokens = [], [], 0.0, 0
    t_start = time.perf_counter()
    for start, length in plan:
        t0 = time.perf_counter()
        inputs, targets = data[start:start + length], data[start + 1:start + 1 + length].reshape(-1)
        log_probs, raw = model(inputs, hidden.detach())
        nll = F.nll_loss(log_probs, targets)
        loss = nll
        if a.temporal_reg > 0:
            loss = loss + a.temporal_reg * (raw[1:] - raw[:-1]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if a.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, a.grad_clip)
        opt.param_groups[0]["lr"] = a.lr * length / a.bptt
        opt.step()
        hidden = raw[-1].detach()
        value = nll.item()
        times.append(time.perf_counter() - t0)
        losses.append(value)
        nll_sum += value * length * a.batch_size
        tokens += length * a.batch_size
        if a.verbose:
            print("window %d/%d len %d nll %.4f (%.3f s)" % (len(losses), len(plan), length, value, times[-1]),
                  file=sys.stderr, flush=True)
    train_s = time.perf_counter() - t_start

    steady = sum(times[1:])
    out = {
        "framework": "pytorch",
        "workload": "lm_train",
        "torch": torch.__version__,
        "genotype": "DARTS_V2",
        "vocab": len(vocab),
        "train_tokens_in_corpus": len(ids),
        "hidden": a.hidden,
        "batch_size": a.batch_size,
        "bptt": a.bptt,
        "params": sum(p.numel() for p in params),
        "threads": torch.get_num_threads(),
        "windows": len(plan),
        "tokens": tokens,
        "train_s": train_s,
        "tokens_per_s": tokens / train_s,
        "tokens_per_s_after_first": (tokens - plan[0][1] * a.batch_size) / steady if len(plan) > 1 else None,
        "first_window_s": times[0],
        "median_window_s": float(np.median(times)),
        "train_loss": nll_sum / tokens,
        "train_ppl": float(np.exp(nll_sum / tokens)),
        "loss_first": losses[0],
        "loss_last": losses[-1],
        "losses_first10": [round(v, 4) for v in losses[:10]],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
