#!/usr/bin/env bash
# HEIC decode speed and fidelity: a 12 MP iPhone HEIC (pillow-heif's pug.heic) decoded by
# photo_organizer (libheif 1.23 from `setup`) and the same photo as a JPEG (quality 92, from
# pillow-heif's decode), side by side in one run, best of N; then photo_organizer's pixels
# against pillow-heif's own decode of the same file (mean and max difference per channel).
# Needs scripts/fetch-test-photos.sh (its pillow-heif install too). PROFILE=dev uses the debug
# build (dependencies are built with opt-level 2 there; libheif is native either way).
set -euo pipefail
cd "$(dirname "$0")/.."
reps="${1:-5}"
profile="${PROFILE:-release}"
cargo build --profile "$profile" --quiet --example heif_decode
bin_dir=target/$([ "$profile" = dev ] && echo debug || echo "$profile")
scripts/fetch-test-photos.sh 2>/dev/null
target=.cache/packages/pillow-heif-1.8.1-target
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
PYTHONPATH="$target" python3 - "$work" .cache/testdata/heic/pug.heic .cache/testdata/heic/arrow.heic <<'PY'
import sys
from PIL import Image
import pillow_heif
pillow_heif.register_heif_opener()
work = sys.argv[1]
for src in sys.argv[2:]:
    name = src.rsplit("/", 1)[1]
    im = Image.open(src).convert("RGB")
    im.save(f"{work}/{name}.pillow.png")
    if name == "pug.heic":
        im.save(f"{work}/pug.jpg", quality=92)
PY
mkdir -p "$work/ours"
"$bin_dir/examples/heif_decode" --reps "$reps" --png "$work/ours" \
  .cache/testdata/heic/pug.heic "$work/pug.jpg" .cache/testdata/heic/arrow.heic | sed "s|$work/||"
PYTHONPATH="$target" python3 - "$work" <<'PY'
import sys
from PIL import Image, ImageChops, ImageStat
work = sys.argv[1]
for name in ["pug.heic", "arrow.heic"]:
    ours = Image.open(f"{work}/ours/{name}.png")
    ref = Image.open(f"{work}/{name}.pillow.png")
    if ours.size != ref.size:
        print(f"{name}: size {ours.size} here, {ref.size} by pillow-heif"); continue
    diff = ImageChops.difference(ours, ref)
    mean = sum(ImageStat.Stat(diff).mean) / 3
    top = max(b for _, b in diff.getextrema())
    print(f"{name}: {ours.size[0]}x{ours.size[1]} as pillow-heif; mean |diff| {mean:.3f}, max {top} (0..255)")
PY
