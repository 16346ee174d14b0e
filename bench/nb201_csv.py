"""Baseline for crates/core/examples/bench_table.rs: loading the NAS-Bench-201 CSV in Python.

    python bench/nb201_csv.py [CSV] [--repeats 5]

Prints one JSON line per loader:
  csv     the standard library: csv.DictReader, every accuracy column converted to float, rows kept in a
          list of dicts, plus a dict arch_str -> row (what a script needs for lookups)
  pandas  pandas.read_csv (only when pandas imports)
with seconds (min and median over --repeats) and the Python heap the loaded structure holds
(tracemalloc, measured on a separate load), and one arch-string lookup's cost.
"""
import argparse
import csv
import gc
import json
import time
import tracemalloc

DEFAULT = "/work/shared/data/nasbench201/nb201_accuracies.csv"
ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def load_csv(path):
    with open(path, newline="") as f:
        rows = []
        for r in csv.DictReader(f):
            for k in r:
                if k not in ("index", "arch_str", "unique_str"):
                    r[k] = float(r[k])
            r["index"] = int(r["index"])
            rows.append(r)
    return rows, {r["arch_str"]: r for r in rows}


def load_pandas(path):
    import pandas as pd
    df = pd.read_csv(path)
    return df, df.set_index("arch_str")


def measure(fn, path, repeats):
    times = []
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        obj = fn(path)
        times.append(time.perf_counter() - t)
        del obj
    gc.collect()
    tracemalloc.start()
    obj = fn(path)
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    times.sort()
    return obj, times[0], times[len(times) // 2], held


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    loaders = [("csv", load_csv)]
    try:
        import pandas  # noqa: F401
        loaders.append(("pandas", load_pandas))
    except ImportError:
        print(json.dumps({"loader": "pandas", "skipped": "pandas is not installed"}))
    for name, fn in loaders:
        obj, tmin, tmed, held = measure(fn, a.csv, a.repeats)
        by_arch = obj[1]
        n = 100000
        t = time.perf_counter()
        if name == "csv":
            for _ in range(n):
                by_arch[ARCH]
        else:
            n = 1000
            for _ in range(n):
                by_arch.loc[ARCH]
        lookup = (time.perf_counter() - t) / n
        print(json.dumps({"loader": name, "load_s_min": tmin, "load_s_median": tmed, "heap_bytes": held,
                          "lookup_s": lookup, "repeats": a.repeats}))


if __name__ == "__main__":
    main()
