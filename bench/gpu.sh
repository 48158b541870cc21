#!/usr/bin/env bash
# The GPU check and benchmark (issue #10) as one prepared run, on a machine with an
# NVIDIA GPU and nothing but Python installed:
#   1. a fresh virtual environment,
#   2. posefast installed with the `cuda` extra (onnxruntime-gpu; its CUDA/cuDNN libraries
#      come from the nvidia-* wheels it depends on), built from this checkout,
#   3. bench/gpu_bench.py: provider check, CUDA-vs-CPU people agreement, throughput at
#      batch 1/8/32, pipeline fps with JSON + table; gpu_bench.json and gpu_bench.md land
#      in --out (default $OUT, else ./gpu_out).
#
#   bash bench/gpu.sh [--device cuda|cpu] [--out DIR] [--wheels DIR] [--quick]
#
# --wheels DIR installs offline from a folder of wheels (pip --no-index --find-links), for
# machines that reach no package index.  --device cpu is the rehearsal on a CPU machine:
# it installs the `cpu` extra instead and checks that every step of the script works.
# Models are looked up in $POSEFAST_MODEL_PATH (default ../shared/models beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

device=cuda out="${OUT:-gpu_out}" wheels="" quick=""
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --wheels) wheels="$2"; shift 2 ;;
    --quick) quick="--quick"; shift ;;
    *) echo "gpu.sh: unknown argument $1 (see the header of bench/gpu.sh)" >&2; exit 2 ;;
  esac
done
case "$device" in
  cuda) extra=cuda ;;
  cpu) extra=cpu ;;
  *) echo "gpu.sh: --device must be cuda or cpu, not $device" >&2; exit 2 ;;
esac
if [ "$device" = cuda ] && ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu.sh: no nvidia-smi: this machine has no NVIDIA driver; use --device cpu to rehearse" >&2
  exit 2
fi

venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
# shellcheck disable=SC1091
source "$venv/bin/activate"
pip_args=(--quiet)
[ -n "$wheels" ] && pip_args+=(--no-index --find-links "$wheels")
t0=$(date +%s)
python -m pip install "${pip_args[@]}" --upgrade pip >/dev/null 2>&1 || true
# `openvino` and the converters come along so that every registered model can load
pip install "${pip_args[@]}" ".[$extra,numba,convert,openvino]"
echo "gpu.sh: installed in $(( $(date +%s) - t0 )) s"

export POSEFAST_MODEL_PATH="${POSEFAST_MODEL_PATH:-$(cd .. && pwd)/shared/models}"
export POSEFAST_CACHE_DIR="${POSEFAST_CACHE_DIR:-$(mktemp -d)}"
mkdir -p "$out"
python bench/gpu_bench.py --device "$device" --out "$out" $quick
