#!/bin/bash
# Builds disco against the libtorch of the machine's PyTorch wheel and runs the benchmark set of
# docs/performance.md on the first CUDA device. Header-only dependencies missing on the machine can
# be unpacked (dpkg -x) into third_party_headers/. Results go to $OUT (default: bench-out/).
# Usage: [STEPS=5] [COMPARE=1] [FULL_SET=1] [PROFILE=1] [QUICK=1] bench/run_gpu.sh [--reference DIR]
#   PROFILE=1: the fast-precision run also profiles each part (traces in $OUT/profile).
#   QUICK=1: no per-part breakdown in the first two runs either (a shorter device call).
#   DIR: prepare_reference.sh's folder, with a copy of ref_dd_bench.py, for the Python reference on the same card.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench-out}; mkdir -p "$out"
ref=""; [ "${1:-}" = "--reference" ] && ref=$2
log() { echo "== $(date +%T) $*"; }

log machine
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/machine.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$out/machine.txt"

log configure
extra=$PWD/third_party_headers/usr/include
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DDISCO_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')" \
  -DDISCO_EXTRA_INCLUDE="$extra" -Dnlohmann_json_DIR="$PWD/third_party_headers/usr/share/cmake/nlohmann_json" \
  >"$out/configure.log" 2>&1 || { tail -40 "$out/configure.log"; exit 1; }
grep "libtorch" "$out/configure.log"
log build
cmake --build build-gpu -j"$(nproc)" --target disco >"$out/build.log" 2>&1 || { grep -B2 -A12 "error" "$out/build.log" | head -120; exit 1; }
disco=build-gpu/app/disco

steps=${STEPS:-5}
nb=${QUICK:+--no-breakdown}
log "bench: DD defaults, fastest plan (mixed precision, as DD)"
timeout 100 $disco bench --device cuda --steps $steps $nb ${COMPARE:+--compare} --json "$out/bench_default.json" 2>&1 | tee "$out/bench_default.txt"
log "bench: --precision fast"
timeout 100 $disco bench --device cuda --steps $steps $nb ${COMPARE:+--compare} --precision fast ${PROFILE:+--profile "$out/profile"} --json "$out/bench_fast.json" 2>&1 | tee "$out/bench_fast.txt"
log "bench: --precision fast, the cutn batches' augmentations one by one (the same machine's A/B for together, above)"
timeout 60 $disco bench --device cuda --steps $steps --precision fast --secondary on --augment-blocks one-by-one --no-breakdown --json "$out/bench_fast_one_by_one.json" 2>&1 | tee "$out/bench_fast_one_by_one.txt"
log "bench: --precision fast, one cutouts call per CLIP model (A/B with bench_fast, where the plan shares them)"
timeout 60 $disco bench --device cuda --steps $steps --precision fast --secondary on --shared-cutouts off --no-breakdown --json "$out/bench_fast_cutouts_per_model.json" 2>&1 | tee "$out/bench_fast_cutouts_per_model.txt"
log "bench: --precision fast --overlap-sampler (the sampler's UNet on a second stream beside the guidance; A/B with bench_fast)"
timeout 60 $disco bench --device cuda --steps $steps --precision fast --secondary on --overlap-sampler --no-breakdown --json "$out/bench_fast_overlap.json" 2>&1 | tee "$out/bench_fast_overlap.txt"
log "bench: full UNet gradient, --precision fast, use_checkpoint off (no recompute: speed where memory allows)"
timeout 60 $disco bench --device cuda --steps $steps --precision fast --secondary off --set use_checkpoint=false --no-breakdown --json "$out/bench_fast_full_nockpt.json" 2>&1 | tee "$out/bench_fast_full_nockpt.txt"
log "bench: --max-vram 8"
timeout 60 $disco bench --device cuda --steps $steps --max-vram 8 --no-breakdown --json "$out/bench_vram8.json" 2>&1 | tee "$out/bench_vram8.txt"
log "bench: full UNet gradient, --precision fast --max-vram 8 (lean graph and offloads as the plan picks: the full-UNet memory target)"
timeout 90 $disco bench --device cuda --steps $steps --precision fast --secondary off --max-vram 8 --no-breakdown --json "$out/bench_fast_full_vram8.json" 2>&1 | tee "$out/bench_fast_full_vram8.txt"
log "bench: --precision fast --max-vram 4, secondary model (skips and image encoders offloaded)"
timeout 60 $disco bench --device cuda --steps $steps --precision fast --max-vram 4 --secondary on --json "$out/bench_fast_vram4.json" 2>&1 | tee "$out/bench_fast_vram4.txt"
if [ -n "${FULL_SET:-}" ]; then
  log "bench: inner cuts resized box by box (secondary model)"
  timeout 50 $disco bench --device cuda --steps $steps --precision fast --secondary on --per-crop-cutouts 2>&1 | tee "$out/bench_per_crop.txt"
  log "bench: full UNet gradient, --precision fast --max-vram 9 (the lean graph)"
  timeout 60 $disco bench --device cuda --steps $steps --precision fast --secondary off --max-vram 9 2>&1 | tee "$out/bench_fast_full_vram9.txt"
  log "bench: channels-last UNet torso (secondary model)"
  timeout 50 $disco bench --device cuda --steps $steps --secondary on --no-breakdown --channels-last -q 2>&1 | tee "$out/bench_channels_last.txt"
  log "bench: explicit attention instead of fused (secondary model)"
  timeout 60 $disco bench --device cuda --steps $steps --secondary on --no-breakdown --no-fused-attention -q 2>&1 | tee "$out/bench_nofused.txt"
fi
if [ -n "$ref" ]; then
  log "reference (Python) on the same card"
  DISCO_REF=$ref PYTHONUNBUFFERED=1 timeout 200 python3 "$ref/ref_dd_bench.py" 2>&1 | tail -5 | tee "$out/reference.txt"
  log "reference UNet forward: profile and levers (bench/unet_levers.py)"
  DISCO_REF=$ref PYTHONUNBUFFERED=1 timeout 150 python3 bench/unet_levers.py 2>&1 | grep -v Warning | tee "$out/unet_levers.txt"
fi
log done
