"""Search-step throughput of a PyTorch DARTS recurrent search model, the workload of one epoch of
`oxnas search --preset cpu-darts-rnn` with the argmax policy and λmax off
(crates/engine/src/search/text_workload.rs, crates/engine/src/search/rnn_supernet.rs).

Runs ONE epoch (or the first --windows windows) of first-order bilevel steps on oxnas's embedded King
James corpus in PTB form and prints ONE JSON line:
  tokens_per_s   training tokens / training seconds (α step + w step of every window), as oxnas's
                 per-epoch `tokens_per_s` in search.jsonl
  train_loss     mean NLL per training token of the w windows

What is the same as oxnas (defaults = the cpu-darts-rnn search preset):
  data      ptb.train.txt.gz (w) and ptb.valid.txt.gz (α), vocabulary from train, each cut into
            --batch-size (256) contiguous columns
  windows   from row 0 while start + 2 < rows, length bptt (35), or int(bptt / 2) with probability 0.05
            (our own numpy stream); the α window is the validation window at row start % (rows - 1),
            bptt long; both streams carry their hidden state (detached)
  model     embedding = hidden (32), uniform +-0.04, decoder tied to the embedding plus a bias; node 0
            from [x_t, h_{t-1}] @ W0 with tanh, then every node i mixes all its i + 1 predecessors:
            [c, h] = s_j W_i, s_j + sigmoid(c) (f(h) - s_j) for tanh, relu, sigmoid, identity, weighted
            by softmax(α) (`none` is a column of α, computing nothing); node sums (and node 0) through
            one non-affine batch norm with shared running statistics; output = mean of nodes 1..8
  dropouts  locked on the embedded input (0.1) and the output (0.3), per sequence on x_t (0.2) and on
            every state a node reads (0.1); embedding dropout off
  α step    first (alpha-first): NLL of the validation window, gradient w.r.t. α, Adam 3e-3 (0.9,
            0.999) wd 1e-3. --alpha-path reference: loss.backward() through every weight, as
            quark0/darts rnn/architect.py does; --alpha-path alpha-only: torch.autograd.grad w.r.t. α
            alone (what oxnas computes)
  w step    NLL + 1e-3 TAR, clip 0.25, SGD lr 20 * len / bptt, wd 5e-7
Different: random streams (window lengths, dropout masks, initial weights).

    python bench/pytorch/lm_search.py --threads 2
"""
import argparse
import json
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from lm_train import CORPUS, INIT_RANGE, columns, keep_mask, read_tokens

OPS = [torch.tanh, torch.relu, torch.sigmoid, lambda t: t]  # α columns 1..4; column 0 is `none`
STEPS = 8


def read_with(path, vocab):
    import gzip
    with gzip.open(path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [vocab[w] for line in lines for w in line.split() + ["<eos>"]]


class SearchLm(nn.Module):
    def __init__(self, vocab, hidden, p):
        super().__init__()
        self.vocab, self.hidden, self.p = vocab, hidden, p
        u = lambda *shape: nn.Parameter(torch.empty(*shape).uniform_(-INIT_RANGE, INIT_RANGE))
        self.embedding = u(vocab, hidden)
        self.decoder_bias = nn.Parameter(torch.zeros(vocab))
        self.w0 = u(2 * hidden, 2 * hidden)
        self.ws = nn.ParameterList([u(hidden, 2 * hidden) for _ in range(STEPS)])
        self.bn = nn.BatchNorm1d(hidden, affine=False)
        self.alpha = nn.Parameter(1e-3 * torch.randn(STEPS * (STEPS + 1) // 2, 5))

    def weights(self):
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def _cell(self, x, h, mx, mh, probs):
        H = self.hidden
        ch = torch.cat([x * mx, h * mh], -1).mm(self.w0)
        c, cand = torch.split(ch, H, -1)
        s0 = self.bn(h + torch.sigmoid(c) * (torch.tanh(cand) - h))
        states, first = s0.unsqueeze(0), 0
        for i, w in enumerate(self.ws):
            ch = (states * mh.unsqueeze(0)).matmul(w)
            c, cand = torch.split(ch, H, -1)
            c = torch.sigmoid(c)
            weights = probs[first:first + i + 1]
            s = 0
            for k, f in enumerate(OPS):
                s = s + (weights[:, k + 1].view(-1, 1, 1) * (states + c * (f(cand) - states))).sum(0)
            states = torch.cat([states, self.bn(s).unsqueeze(0)], 0)
            first += i + 1
        return states[1:].mean(0)

    def forward(self, tokens, h0):
        p, (steps, batch), H = self.p, tokens.shape, self.hidden
        emb = F.embedding(tokens, self.embedding)
        emb = emb * keep_mask((1, batch, H), p["input"], emb)
        mx, mh = keep_mask((batch, H), p["x"], emb), keep_mask((batch, H), p["hidden"], emb)
        probs = F.softmax(self.alpha, -1)
        h, outs = h0, []
        for t in range(steps):
            h = self._cell(emb[t], h, mx, mh, probs)
            outs.append(h)
        raw = torch.stack(outs, 0)
        out = raw * keep_mask((1, batch, H), p["output"], raw)
        logits = out.view(-1, H).matmul(self.embedding.t()) + self.decoder_bias
        return F.log_softmax(logits, -1), raw


def plan_windows(rows, bptt, rng):
    plan, start = [], 0
    while start + 2 < rows:
        length = min(bptt if rng.random() < 0.95 else int(bptt / 2), rows - 1 - start)
        plan.append((start, length))
        start += length
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--alpha-path", choices=["reference", "alpha-only"], default="reference")
    ap.add_argument("--windows", type=int, default=0, help="stop after N windows (0 = the whole epoch)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ids, vocab = read_tokens(os.path.join(CORPUS, "ptb.train.txt.gz"))
    train = columns(ids, a.batch_size)
    valid = columns(read_with(os.path.join(CORPUS, "ptb.valid.txt.gz"), vocab), a.batch_size)
    plan = plan_windows(train.shape[0], a.bptt, np.random.default_rng(a.seed))
    if a.windows:
        plan = plan[:a.windows]
    model = SearchLm(len(vocab), a.hidden, dict(output=0.3, hidden=0.1, x=0.2, input=0.1))
    model.train()
    weights = model.weights()
    w_opt = torch.optim.SGD(weights, lr=20.0, momentum=0.0, weight_decay=5e-7)
    a_opt = torch.optim.Adam([model.alpha], lr=3e-3, betas=(0.9, 0.999), weight_decay=1e-3)
    hidden = torch.zeros(a.batch_size, a.hidden)
    hidden_valid = torch.zeros(a.batch_size, a.hidden)
    nll_sum, tokens, times = 0.0, 0, []
    t_start = time.perf_counter()
    for start, length in plan:
        t0 = time.perf_counter()
        vs = start % (valid.shape[0] - 1)
        vlen = min(a.bptt, valid.shape[0] - 1 - vs)
        a_opt.zero_grad(set_to_none=True)
        log_probs, raw = model(valid[vs:vs + vlen], hidden_valid)
        vloss = F.nll_loss(log_probs, valid[vs + 1:vs + 1 + vlen].reshape(-1))
        if a.alpha_path == "reference":
            vloss.backward()
        else:
            (model.alpha.grad,) = torch.autograd.grad(vloss, [model.alpha])
        a_opt.step()
        hidden_valid = raw[-1].detach()

        w_opt.zero_grad(set_to_none=True)
        log_probs, raw = model(train[start:start + length], hidden)
        nll = F.nll_loss(log_probs, train[start + 1:start + 1 + length].reshape(-1))
        loss = nll + 1e-3 * (raw[1:] - raw[:-1]).pow(2).mean()
        loss.backward()
        model.alpha.grad = None  # α is not a weight
        nn.utils.clip_grad_norm_(weights, 0.25)
        w_opt.param_groups[0]["lr"] = 20.0 * length / a.bptt
        w_opt.step()
        hidden = raw[-1].detach()
        value = nll.item()
        times.append(time.perf_counter() - t0)
        nll_sum += value * length * a.batch_size
        tokens += length * a.batch_size
    train_s = time.perf_counter() - t_start
    print(json.dumps({
        "framework": "pytorch", "workload": "lm_search", "alpha_path": a.alpha_path, "torch": torch.__version__,
        "vocab": len(vocab), "hidden": a.hidden, "batch_size": a.batch_size, "bptt": a.bptt,
        "params": sum(p.numel() for p in weights), "threads": torch.get_num_threads(), "windows": len(plan),
        "tokens": tokens, "train_s": train_s, "tokens_per_s": tokens / train_s,
        "median_window_s": float(np.median(times)), "train_loss": nll_sum / tokens,
    }))


if __name__ == "__main__":
    main()
