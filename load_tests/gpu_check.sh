#!/usr/bin/env bash
# The GPU profile measured end to end (load_tests/gpu_bench.py): bare model, nvJPEG, the service
# under wrk, Grad-CAM; JSON and logs in $OUT (default load_tests/results/gpu).
#
#   load_tests/gpu_check.sh            # on a CUDA machine
#   load_tests/gpu_check.sh --cpu      # the same steps on the CPU, small counts
#
# Python: .venv's when it has ray, else python3 with the packages of .device/site.tar.xz
# (load_tests/gpu_bundle.sh) for a machine without a registry. wrk: the installed one, else the
# Debian packages in .device/debs. Model files: $VISIONSERVE_MODEL_DIR, ../shared/models or
# .device/models. Other arguments go to gpu_bench.py (--seconds, --budget-s).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${OUT:-$root/load_tests/results/gpu}
mkdir -p "$out"
py=python3
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import ray' 2>/dev/null; then
  py=.venv/bin/python
elif ! python3 -c 'import ray' 2>/dev/null && [ -f .device/site.tar.xz ]; then
  mkdir -p /tmp/site && tar -C /tmp/site -xJf .device/site.tar.xz
  export PATH=/tmp/site/bin:$PATH
  export PYTHONPATH=/tmp/site:$root/services:$root/clients/python
fi
if ! command -v wrk >/dev/null && ls .device/debs/*.deb >/dev/null 2>&1; then
  for deb in .device/debs/*.deb; do dpkg -x "$deb" /tmp/wrk; done
  mkdir -p /tmp/wrk/bin
  printf '#!/bin/sh\nLD_LIBRARY_PATH=/tmp/wrk/usr/lib/x86_64-linux-gnu exec /tmp/wrk/usr/bin/wrk "$@"\n' > /tmp/wrk/bin/wrk
  chmod +x /tmp/wrk/bin/wrk
  export PATH=/tmp/wrk/bin:$PATH
fi
for folder in "${VISIONSERVE_MODEL_DIR:-}" ../shared/models .device/models; do
  if [ -n "$folder" ] && [ -f "$folder/yolox_nano.onnx" ]; then export VISIONSERVE_MODEL_DIR=$(cd "$folder" && pwd); break; fi
done
for folder in "${VISIONSERVE_TEST_IMAGES:-}" ../shared/images .device/images; do
  if [ -n "$folder" ] && [ -f "$folder/chelsea.png" ]; then export VISIONSERVE_TEST_IMAGES=$(cd "$folder" && pwd); break; fi
done
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} PYTHONUNBUFFERED=1
export VISIONSERVE_CACHE_DIR=${VISIONSERVE_CACHE_DIR:-/tmp/visionserve-cache}
export VISIONSERVE_DATA_DIR=${VISIONSERVE_DATA_DIR:-/tmp/visionserve-data}
case " $* " in *" --cpu "*) ;; *) export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0} ;; esac  # Ray counts GPUs from it
{
  echo "python: $py ($($py -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())'))"
  echo "wrk: $(command -v wrk) $(wrk --version 2>&1 | head -1)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
} | tee "$out/env.txt"
# The whole output in run.log; on the terminal without Serve's per-request lines.
$py load_tests/gpu_bench.py --out "$out" "$@" 2>&1 | tee "$out/run.log" | grep -v -E "Cancelling request|RoutePattern"
exit "${PIPESTATUS[0]}"
