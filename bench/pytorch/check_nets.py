"""Checks bench/pytorch/nets.py against the reference numbers.

Always: the two parameter counts the spec quotes.
When the reference files exist (default /tmp/pyref, or --ref DIR; produced by golden.py from the
reference PyTorch code), also:
  - every golden.json "darts"/"nb201" parameter count for the genotypes nets.py knows,
  - state_dict key names and shapes, in order, against keys_*.txt,
  - eval-mode logits of the *_bnrand weights on input_2x3x32x32 against golden.json["forward"]
    (strict load_state_dict, max |diff| < 1e-4).
Exit status 1 when any check fails.

    python bench/pytorch/check_nets.py [--ref /tmp/pyref]
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nets import GENOTYPES, DartsNetwork, Nb201Network, count_params  # noqa: E402

NB201_ARCH4 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
FAILED = []


def check(ok, what):
    print("%s  %s" % ("ok  " if ok else "FAIL", what))
    if not ok:
        FAILED.append(what)


def keys_of(model):
    return ["%s [%s]" % (k, ",".join(str(d) for d in v.shape)) for k, v in model.state_dict().items()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ref", default="/tmp/pyref", help="directory with golden.json, keys_*.txt, *.safetensors")
    args = ap.parse_args()
    torch.set_num_threads(1)

    # ---- the spec's two counts
    n = count_params(DartsNetwork(GENOTYPES["DARTS_V2"], 36, 20, 10, 3, auxiliary=False))
    check(n == 3349342, "params DARTS_V2 C=36 L=20 10 classes no aux: %d (want 3,349,342)" % n)
    n = count_params(Nb201Network(NB201_ARCH4, 16, 5, 10, 3))
    check(n == 1073466, "params NB201 arch4 C=16 N=5 10 classes: %d (want 1,073,466)" % n)

    golden_path = os.path.join(args.ref, "golden.json")
    if not os.path.exists(golden_path):
        print("skip  reference checks: %s not found" % golden_path)
        return finish()
    golden = json.load(open(golden_path))

    # ---- every golden parameter count we can build
    for row in golden.get("darts", []):
        if row["genotype"] not in GENOTYPES:
            continue
        m = DartsNetwork(GENOTYPES[row["genotype"]], row["C"], row["layers"], row["classes"], row["in_ch"],
                         auxiliary=row["auxiliary"])
        got = (count_params(m), count_params(m, exclude_aux=True))
        want = (row["params_total"], row["params_excl_aux"])
        check(got == want, "params darts %s C=%d L=%d K=%d aux=%s in=%d: %s (want %s)" % (
            row["genotype"], row["C"], row["layers"], row["classes"], row["auxiliary"], row["in_ch"], got, want))
    for row in golden.get("nb201", []):
        m = Nb201Network(row["arch"], row["C"], row["N"], row["classes"], row["in_ch"])
        got = count_params(m)
        check(got == row["params_total"], "params nb201 #%d K=%d in=%d: %d (want %d)" % (
            row["arch_index"], row["classes"], row["in_ch"], got, row["params_total"]))

    # ---- state_dict names and shapes
    key_models = {
        "keys_darts_v2.txt": lambda: DartsNetwork(GENOTYPES["DARTS_V2"], 36, 20, 10, 3, auxiliary=True),
        "keys_fmnist1_small.txt": lambda: DartsNetwork(GENOTYPES["FashionMNIST_1"], 16, 8, 10, 1, auxiliary=False),
        "keys_nb201.txt": lambda: Nb201Network(NB201_ARCH4, 16, 5, 10, 3),
    }
    for fname, ctor in key_models.items():
        path = os.path.join(args.ref, fname)
        if not os.path.exists(path):
            print("skip  %s not found" % path)
            continue
        want = [line.rstrip("\n") for line in open(path) if line.strip()]
        got = keys_of(ctor())
        first_diff = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
        check(got == want, "state_dict keys+shapes vs %s (%d keys)%s" % (
            fname, len(want), "" if got == want else
            "; first difference at %s: %r vs %r" % (first_diff, got[first_diff] if first_diff is not None else None,
                                                    want[first_diff] if first_diff is not None else None)))

    # ---- forward goldens
    try:
        from safetensors.torch import load_file
    except ImportError:
        print("skip  forward goldens: safetensors is not installed")
        return finish()
    x_path = os.path.join(args.ref, "input_2x3x32x32.safetensors")
    if not os.path.exists(x_path):
        print("skip  forward goldens: %s not found" % x_path)
        return finish()
    x = load_file(x_path)["x"]
    fwd = golden.get("forward", {})
    cases = {
        "nb201_arch4": lambda: Nb201Network(NB201_ARCH4, 16, 5, 10, 3),
        "darts_v2_small": lambda: DartsNetwork(GENOTYPES["DARTS_V2"], 16, 8, 10, 3, auxiliary=True),
    }
    for base, ctor in cases.items():
        for name in (base, base + "_bnrand"):
            if name not in fwd:
                continue
            wpath = os.path.join(args.ref, fwd[name]["weights"])
            if not os.path.exists(wpath):
                print("skip  %s: %s not found" % (name, wpath))
                continue
            m = ctor()
            m.load_state_dict(load_file(wpath), strict=True)
            m.eval()
            with torch.no_grad():
                out = m(x)
            logits = out[0] if isinstance(out, tuple) else out
            want = torch.tensor(fwd[name]["logits_f32"])
            diff = (logits - want).abs().max().item()
            check(diff < 1e-4, "logits %s (eval, strict load %s): max |diff| = %.3g (< 1e-4)" % (
                name, fwd[name]["weights"], diff))
    return finish()


def finish():
    if FAILED:
        print("%d check(s) FAILED" % len(FAILED))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
