#!/usr/bin/env bash
# Creates the Python environment for the PyTorch side of the benchmark (bench/pytorch/): torch 2.11.0 (the
# same release as oxnas's libtorch), numpy and safetensors, from PyPI with every version pinned.
#
#   bench/setup-pytorch.sh [VENV_DIR]        # default: .bench-venv/ in the repo (or $BENCH_VENV)
#
# Idempotent: a finished environment is recognised by a stamp file and left alone; an interrupted one is
# completed. About 2.2 GB download and 3.6 GB on disk.
#
# Why these wheels: PyPI's Linux torch==2.11.0 is the CUDA 13.0 build, and its libtorch.so /
# libtorch_python.so link cuDNN, cuBLAS, cuFFT, cuFile, cuRAND, cuSPARSE, cuSPARSELt, NCCL and NVSHMEM at
# load time, so `import torch` fails without them even on a CPU-only machine. They are installed with
# --no-deps; what torch only loads lazily (cuSOLVER, NVRTC, triton, cuda-bindings) is left out, so pip's
# "torch requires ... which is not installed" lines are expected and harmless. There is no CPU-only torch
# wheel for Linux on PyPI.
#
# Environment: PYTHON (interpreter that creates the venv, default python3; 3.10-3.13), and pip's own
# settings, e.g. PIP_FIND_LINKS=/dir/with/wheels to reuse a downloaded torch wheel.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-${BENCH_VENV:-$root/.bench-venv}}"
py="${PYTHON:-python3}"
stamp="$venv/.complete-torch-2.11.0"

PACKAGES=(
  torch==2.11.0
  # libraries libtorch.so needs at load time (versions as torch 2.11.0 / cuda-toolkit 13.0.2 pin them)
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-cupti==13.0.85 nvidia-cublas==13.1.0.3
  nvidia-cudnn-cu13==9.19.0.56 nvidia-cufft==12.0.0.61 nvidia-cufile==1.15.1.6 nvidia-curand==10.4.0.35
  nvidia-cusparse==12.6.3.3 nvidia-cusparselt-cu13==0.8.0 nvidia-nccl-cu13==2.28.9
  nvidia-nvshmem-cu13==3.4.5 nvidia-nvjitlink==13.0.88
  # torch's pure-Python dependencies, numpy, and safetensors for the golden-weight check
  filelock==4.2.12 typing_extensions==4.16.0 sympy==1.14.0 mpmath==1.3.0 networkx==3.6.1 Jinja2==3.1.6
  MarkupSafe==3.0.4 fsspec==2026.9.0 numpy==2.4.6 safetensors==0.8.0
)

check() {
  "$venv/bin/python" -c 'import torch, numpy, safetensors; assert torch.__version__.startswith("2.11.0"); torch.ones(2) @ torch.ones(2)' 2>/dev/null
}

if [ -f "$stamp" ] && check; then
  exit 0
fi
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: $py not found; set PYTHON to a Python 3.10-3.13 interpreter" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ]; then
  echo "bench: creating $venv" >&2
  "$py" -m venv "$venv"
fi
# Keep the environment out of git wherever it lives inside the repo.
[ -f "$venv/.gitignore" ] || echo '*' > "$venv/.gitignore"
echo "bench: installing torch 2.11.0 and its load-time libraries into $venv (about 2.2 GB download)" >&2
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --no-compile "${PACKAGES[@]}"; then
  echo "error: pip could not install the pinned packages (no network to PyPI?)" >&2
  exit 1
fi
if ! check; then
  echo "error: $venv/bin/python cannot import torch 2.11.0 after installing; see the messages above" >&2
  exit 1
fi
touch "$stamp"
echo "bench: ready: $venv/bin/python ($("$venv/bin/python" -c 'import torch; print("torch", torch.__version__)'))" >&2
