#!/usr/bin/env bash
# Builds the labelled evaluation set (plain/, hard/, distractors/, labels.json; see
# examples/make_eval_set.rs) from the real photos that fetch-test-photos.sh provides, plus a cat
# photo (skimage's chelsea.png, CC0) as one more distractor when Debian's package can be had.
# Nothing here is committed: photos and the set stay under .cache/ (git-ignored).
#
#   scripts/build-eval-set.sh [OUT_DIR]      (default .cache/eval-set)
#
# EVAL_PACKAGES_DIR overrides where the downloaded .deb is kept (default .cache/packages).
# Cargo's own variables apply (CARGO_BUILD_JOBS=1 on a small machine).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/.cache/eval-set}"
pkgs="${EVAL_PACKAGES_DIR:-$root/.cache/packages}"

"$root/scripts/fetch-test-photos.sh"

# The cat: optional, so a machine without apt (or offline) still gets the rest of the set.
# The .deb's version differs between Debian releases, so the pin is on the photo itself.
skimage_version="0.19.3-8"
chelsea_sha="596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
chelsea="$pkgs/skimage/chelsea.png"
fetch_chelsea() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || return 1
  mkdir -p "$pkgs/skimage"
  local deb
  deb="$(ls "$pkgs"/python3-skimage_*_all.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    echo "fetching python3-skimage (for chelsea.png)" >&2
    (
      cd "$pkgs"
      apt-get download -q "python3-skimage=$skimage_version" >/dev/null 2>&1 \
        || apt-get download -q python3-skimage >/dev/null 2>&1 \
        || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 \
               && apt-get download -q python3-skimage >/dev/null 2>&1; }
    ) || return 1
    deb="$(ls "$pkgs"/python3-skimage_*_all.deb 2>/dev/null | head -n1 || true)"
    [ -n "$deb" ] || return 1
  fi
  local tmp
  tmp="$(mktemp -d)"
  dpkg-deb -x "$deb" "$tmp"
  find "$tmp" -path '*/skimage/data/chelsea.png' -exec cp {} "$chelsea.tmp" \; -quit
  rm -rf "$tmp"
  [ -f "$chelsea.tmp" ] && mv "$chelsea.tmp" "$chelsea"
}
if [ ! -f "$chelsea" ] || ! echo "$chelsea_sha  $chelsea" | sha256sum -c --status; then
  rm -f "$chelsea"
  fetch_chelsea || true
fi
extra=()
if [ -f "$chelsea" ] && echo "$chelsea_sha  $chelsea" | sha256sum -c --status; then
  extra=(--distractor "$chelsea")
else
  rm -f "$chelsea"
  echo "warning: no chelsea.png (python3-skimage not fetched); building without the cat" >&2
fi

cd "$root"
if [ ! -f "$out/labels.json" ] || [ "examples/make_eval_set.rs" -nt "$out/labels.json" ]; then
  cargo run --quiet --example make_eval_set -- "$out" "${extra[@]}"
fi
# `photo_organizer eval` reads sub-folders starting with `_` as distractors.
ln -sfn ../distractors "$out/plain/_distractors"
ln -sfn ../distractors "$out/hard/_distractors"
echo "evaluation set ready in $out" >&2
