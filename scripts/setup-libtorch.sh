#!/usr/bin/env bash
# Installs the libtorch that tch 0.24 needs (PyPI torch==2.11.0) into .libtorch/ inside the repo,
# with only the runtime libraries libtorch_cpu.so loads (see docs/INSTALL.md). Idempotent: a complete
# install is detected by a stamp file and left alone.
#
# To use a libtorch you already have instead, export LIBTORCH=/path/to/libtorch (a directory with
# include/ and lib/, or a torch/ package directory) before running ./oxnas or scripts/test.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.libtorch"
stamp="$dest/.complete-torch-2.11.0"

if [ -n "${LIBTORCH:-}" ]; then
  if [ -d "$LIBTORCH/lib" ] && [ -d "$LIBTORCH/include" ]; then exit 0; fi
  echo "error: LIBTORCH=$LIBTORCH has no lib/ and include/ directories; unset it to let oxnas install libtorch, or point it at a libtorch 2.11.0 directory" >&2
  exit 1
fi
[ -f "$stamp" ] && exit 0

py="${PYTHON:-python3}"
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: python3 with pip is needed to fetch libtorch from PyPI (torch==2.11.0); install it, or set LIBTORCH to an existing libtorch 2.11.0" >&2
  exit 1
fi
echo "oxnas: installing libtorch 2.11.0 from PyPI into $dest (about 540 MB download, once)" >&2
rm -rf "$dest.partial"
# --no-deps: torch's full dependency set is 4.6 GB of CUDA libraries that a CPU run never loads;
# libtorch_cpu.so itself links only the CUDA runtime and CUPTI, pinned to what torch 2.11.0 resolves.
if ! "$py" -m pip install --quiet --disable-pip-version-check --no-deps --no-compile \
      --target "$dest.partial" \
      torch==2.11.0 nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85; then
  echo "error: pip could not install torch==2.11.0 (no network to PyPI?). Set LIBTORCH to an existing libtorch 2.11.0 directory (e.g. .../site-packages/torch of a torch 2.11.0 install) and run again." >&2
  exit 1
fi
rm -rf "$dest"
mv "$dest.partial" "$dest"
touch "$stamp"
echo "oxnas: libtorch installed at $dest/torch" >&2
