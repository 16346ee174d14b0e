#!/usr/bin/env python3
"""Test-data generator for oxnas's NAS-Bench-101 module hash (crates/core/src/nb101/hash.rs).

An independent re-implementation, in plain Python (hashlib only), of the published algorithm of the
`nasbench` API, written from its description:

1. prune: keep only the vertices that lie on some input -> output path (reachable forward from
   vertex 0 and backward from the last vertex), renumbered in their original order;
2. label each vertex: input -1, output -2, an op by its position in the benchmark's op list
   (conv3x3-bn-relu 0, conv1x1-bn-relu 1, maxpool3x3 2);
3. start hash of a vertex = md5 hex of the Python tuple text "(out_degree, in_degree, label)";
4. repeat V times (V = vertices after pruning): new hash of v = md5 hex of
   sorted(in-neighbour hashes) joined + "|" + sorted(out-neighbour hashes) joined + "|" + own hash;
5. fingerprint = md5 hex of the Python list text of the sorted vertex hashes, e.g. "['ab..', 'cd..']".

    python3 bench/nb101_golden.py            # prints one JSON line per test cell: name, hash, pruned cell

The Rust tests record these values; rerun this script after changing a test cell.
"""
import hashlib
import json

OPS = ["conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"]


def md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def prune(matrix, ops):
    n = len(matrix)
    fwd, stack = {0}, [0]
    while stack:
        u = stack.pop()
        for v in range(n):
            if matrix[u][v] and v not in fwd:
                fwd.add(v)
                stack.append(v)
    bwd, stack = {n - 1}, [n - 1]
    while stack:
        u = stack.pop()
        for v in range(n):
            if matrix[v][u] and v not in bwd:
                bwd.add(v)
                stack.append(v)
    keep = sorted(fwd & bwd)
    if 0 not in keep or n - 1 not in keep:
        raise ValueError("no input -> output path")
    return [[matrix[a][b] for b in keep] for a in keep], [ops[k] for k in keep]


def labels(ops):
    return [-1] + [OPS.index(o) for o in ops[1:-1]] + [-2]


def module_hash(matrix, ops):
    m, o = prune(matrix, ops)
    n = len(m)
    lab = labels(o)
    ins = [sum(m[u][v] for u in range(n)) for v in range(n)]
    outs = [sum(m[v]) for v in range(n)]
    h = [md5(str((outs[v], ins[v], lab[v]))) for v in range(n)]
    for _ in range(n):
        h = [
            md5(
                "".join(sorted(h[u] for u in range(n) if m[u][v]))
                + "|"
                + "".join(sorted(h[w] for w in range(n) if m[v][w]))
                + "|"
                + h[v]
            )
            for v in range(n)
        ]
    return md5(str(sorted(h))), m, o


C1, C3, MP = "conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3"
I, O = "input", "output"

# The cells the Rust tests use (crates/core/src/nb101/hash.rs and model.rs); keep names in sync.
CELLS = {
    # README's Inception-like example.
    "readme": (
        [[0, 1, 1, 1, 0, 1, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        [I, C1, C3, C3, C3, MP, O],
    ),
    # The same cell as the published data stores it (another vertex order).
    "readme_stored": (
        [[0, 1, 1, 1, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        [I, C3, C1, MP, C3, C3, O],
    ),
    # The README cell with the 1x1 moved to the head of the two-conv branch: not isomorphic.
    # (Swapping the 1x1 with the pool would be: both sit between input and output alone.)
    "readme_swapped": (
        [[0, 1, 1, 1, 0, 1, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        [I, C3, C3, C1, C3, MP, O],
    ),
    # input -> output only.
    "skip": ([[0, 1], [0, 0]], [I, O]),
    # A chain of five 3x3 convs.
    "chain5": (
        [[1 if b == a + 1 else 0 for b in range(7)] for a in range(7)],
        [I, C3, C3, C3, C3, C3, O],
    ),
    # One conv plus a skip; vertex 2 dangles (no path to output) and is pruned.
    "dangling": (
        [[0, 1, 1, 0],
         [0, 0, 0, 1],
         [0, 0, 0, 0],
         [0, 0, 0, 0]],
        [I, C3, MP, O],
    ),
    # A 7-vertex cell with 9 edges, a diamond and uneven output fan-in.
    "dense9": (
        [[0, 1, 0, 0, 0, 0, 1],
         [0, 0, 1, 1, 0, 0, 0],
         [0, 0, 0, 0, 1, 0, 0],
         [0, 0, 0, 0, 1, 0, 1],
         [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 0, 0]],
        [I, C1, MP, C3, C3, MP, O],
    ),
}


LETTERS = {C3: "3", C1: "1", MP: "m"}


def short(matrix, ops):
    """oxnas's short form OPS:ROWS (docs/nb101.md) of a cell as given (not pruned)."""
    n = len(matrix)
    rows = ["".join(str(matrix[i][j]) for j in range(i + 1, n)) for i in range(n - 1)]
    return "".join(LETTERS[o] for o in ops[1:-1]) + ":" + "/".join(rows)


if __name__ == "__main__":
    for name, (m, o) in CELLS.items():
        h, pm, po = module_hash(m, o)
        print(json.dumps({"name": name, "hash": h, "short": short(m, o), "pruned": short(pm, po)}))
