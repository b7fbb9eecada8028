#!/usr/bin/env bash
# Speed comparison, same photos, same models: photo_organizer vs a straightforward Python pipeline
# (PIL + onnxruntime + scikit-learn HDBSCAN, scripts/bench/python_pipeline.py). Builds a library
# of N (default 300) photos with faces from the real test photos, runs both with empty caches,
# and prints photos/s of each, peak memory, CPU time and the ratio. The library is
# `scripts/bench-vs-python.sh N [small|phone|phone48]`: small (default), 1-3 MP JPEGs with one or
# two faces (scripts/bench/make_library.py); phone, 4032x3024 phone-like JPEGs of 2-5 MB with a
# camera's noise, 30% stored rotated (scripts/bench/make_phone_library.py); phone48, the same at
# 8000x6000.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-300}"
kind="${2:-small}"
scripts/build-deps.sh
cargo build --release --locked --quiet
bin="$PWD/target/release/photo_organizer"
"$bin" setup >/dev/null
scripts/fetch-test-photos.sh 2>/dev/null
venv=.cache/bench-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check onnxruntime==1.31.1 numpy pillow scikit-learn onnx
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
case "$kind" in
  small) lib=.cache/bench-library-$n
    [ -d "$lib" ] || "$venv/bin/python" scripts/bench/make_library.py .cache/testdata "$lib" "$n" ;;
  phone) lib=.cache/bench-phone-library-$n
    [ -d "$lib" ] || "$venv/bin/python" scripts/bench/make_phone_library.py .cache/testdata "$lib" "$n" ;;
  phone48) lib=.cache/bench-phone48-library-$n
    [ -d "$lib" ] || "$venv/bin/python" scripts/bench/make_phone_library.py .cache/testdata "$lib" "$n" 8000 6000 ;;
  *) echo "unknown library kind '$kind': use small, phone or phone48" >&2; exit 2 ;;
esac
shared="${PHOTO_ORGANIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/photo_organizer}"
mkdir -p "$work/cache" && ln -s "$shared/runtime" "$work/cache/runtime" && ln -s "$shared/models" "$work/cache/models"

echo "library: $n photos in $lib ($(du -sh "$lib" | cut -f1)), $(nproc) cores"
rust_t0=$(date +%s.%N)
PHOTO_ORGANIZER_CACHE="$work/cache" /usr/bin/time -f "rust peak RSS: %M KB, CPU %U s user + %S s system" "$bin" -s "$lib" -o "$work/rust-out" 2>"$work/rust.err" | tail -3
rust_t1=$(date +%s.%N)
grep "peak RSS" "$work/rust.err"
py_t0=$(date +%s.%N)
/usr/bin/time -f "python peak RSS: %M KB, CPU %U s user + %S s system" "$venv/bin/python" scripts/bench/python_pipeline.py "$shared/models" "$lib" "$work/py-out" 2>"$work/py.err"
py_t1=$(date +%s.%N)
grep "peak RSS" "$work/py.err"
awk -v r0="$rust_t0" -v r1="$rust_t1" -v p0="$py_t0" -v p1="$py_t1" -v n="$n" 'BEGIN {
  rt = r1 - r0; pt = p1 - p0;
  printf "rust %.1fs (%.1f photos/s), python %.1fs (%.1f photos/s): rust is %.2fx faster\n", rt, n / rt, pt, n / pt, pt / rt }'
