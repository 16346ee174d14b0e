# Sourced by the bench scripts after they set $root: the PyTorch to compare against, and the oxnas
# release binary (installing libtorch and building it on first use).
PY="${BENCH_PYTHON:-$root/.bench-venv/bin/python}"
if ! "$PY" -c 'import torch' 2>/dev/null; then
  echo "error: $PY cannot import torch; run bench/setup-pytorch.sh or set BENCH_PYTHON" >&2
  exit 1
fi
if [ -z "${OXNAS:-}" ]; then
  "$root/oxnas" --help >/dev/null   # installs libtorch / builds the release binary when needed
  OXNAS="$root/target/release/oxnas"
fi
export OXNAS
