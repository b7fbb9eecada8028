#!/usr/bin/env bash
# Speed comparison, same photos, same models: photo_organizer vs a straightforward Python pipeline
# (PIL + onnxruntime + scikit-learn HDBSCAN, scripts/bench/python_pipeline.py). Builds a library
# of N (default 300) photos with faces from the real test photos, runs both with empty caches,
# and prints photos/s of each, peak memory, CPU time and the ratio, per round and the median of
# ROUNDS rounds (default 3), Rust and Python alternating. The library is
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

rounds="${ROUNDS:-3}"
echo "library: $n photos in $lib ($(du -sh "$lib" | cut -f1)), $(nproc) cores, $rounds rounds (ROUNDS=N)"
# Rust and Python alternate, each on an empty cache and output, so the machine's drift touches
# both alike; the medians are compared.
for r in $(seq "$rounds"); do
  rm -rf "$work/cache/library.sqlite"* "$work/rust-out" "$work/py-out"
  t0=$(date +%s.%N)
  PHOTO_ORGANIZER_CACHE="$work/cache" /usr/bin/time -f "%U %S %M" -o "$work/rust.time" "$bin" -q -s "$lib" -o "$work/rust-out" 2>"$work/rust.err"
  t1=$(date +%s.%N)
  /usr/bin/time -f "%U %S %M" -o "$work/py.time" "$venv/bin/python" scripts/bench/python_pipeline.py "$shared/models" "$lib" "$work/py-out" >"$work/py.out" 2>"$work/py.err"
  t2=$(date +%s.%N)
  read -r ru rs rm <"$work/rust.time"; read -r pu ps pm <"$work/py.time"
  echo "$t0 $t1 $t2 $ru $rs $rm $pu $ps $pm" >>"$work/rounds"
  awk -v n="$n" -v r="$r" '{ printf "round %d: rust %.2fs (CPU %.2fs, %d MB), python %.2fs (CPU %.2fs, %d MB): %.2fx\n", r, $2 - $1, $4 + $5, $6 / 1024, $3 - $2, $7 + $8, $9 / 1024, ($3 - $2) / ($2 - $1) }' <<<"$t0 $t1 $t2 $ru $rs $rm $pu $ps $pm"
done
grep -h "photos" "$work/py.out" | tail -1
awk -v n="$n" '
  function median(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2 }
  { k++; rw[k] = $2 - $1; pw[k] = $3 - $2; rc[k] = $4 + $5; pc[k] = $7 + $8 }
  END { r = median(rw, k); p = median(pw, k); a = median(rc, k); b = median(pc, k)
    printf "median of %d: rust %.2fs (%.1f photos/s, CPU %.2fs), python %.2fs (%.1f photos/s, CPU %.2fs): rust is %.2fx faster (%.2fx in CPU time)\n", k, r, n / r, a, p, n / p, b, p / r, b / a }' "$work/rounds"
