#!/usr/bin/env bash
# The test command (CI runs exactly this via .ci/run). On a fresh machine it fetches what the
# tests need: the ONNX Runtime library and models (`photo_organizer setup`, into the user cache)
# and the real test photos (scripts/fetch-test-photos.sh, into .cache/); then checks format and
# lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-deps.sh
cargo build --locked --quiet
./target/debug/photo_organizer setup --all
scripts/fetch-test-photos.sh
scripts/build-eval-set.sh
# scripts/gpu-proof.sh's test generates its libraries with Pillow and numpy
# (tests/integration/gpu_proof.rs): a venv of its own when python3 has neither.
if ! python3 -c 'import PIL, numpy' 2>/dev/null && ! .cache/gpu-proof-venv/bin/python -c 'import PIL, numpy' 2>/dev/null; then
  rm -rf .cache/gpu-proof-venv
  python3 -m venv .cache/gpu-proof-venv
  .cache/gpu-proof-venv/bin/pip install -q --disable-pip-version-check pillow numpy
fi
# flake.nix must at least parse (Debian's nix-bin gives nix-instantiate).
if ! command -v nix-instantiate >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq nix-bin >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq nix-bin >/dev/null; }
  else
    echo "nix-instantiate not found: install Debian's nix-bin (checks that flake.nix parses)" >&2
    exit 1
  fi
fi
nix-instantiate --parse flake.nix >/dev/null
# The review page's tests drive Debian's chromium headless (DevTools protocol).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null && [ -z "${CHROMIUM:-}" ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
  else
    echo "chromium not found: install Debian's chromium (the review page's browser tests need it), or set CHROMIUM" >&2
    exit 1
  fi
fi
# The XMP sidecar tests check that exiftool reads what photo_organizer writes (Debian's
# libimage-exiftool-perl).
if ! command -v exiftool >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq libimage-exiftool-perl >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl >/dev/null; }
  else
    echo "exiftool not found: install Debian's libimage-exiftool-perl (the XMP sidecar tests need it)" >&2
    exit 1
  fi
fi
# The video tests make their videos with ffmpeg and read them through ffmpeg and ffprobe
# (src/media/video.rs).
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq ffmpeg >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null; }
  else
    echo "ffmpeg not found: install Debian's ffmpeg (the video tests need ffmpeg and ffprobe)" >&2
    exit 1
  fi
fi
cargo fmt --all --check
# Dependencies run one way between src/ folders, and no file is over 700 lines (issue #33).
python3 scripts/check-layout.py
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
# The fuzz crate is outside the workspace (cargo-fuzz needs nightly to run it): check that it
# still compiles, with the workspace's versions (its own lock file starts as a copy) and target.
cp Cargo.lock fuzz/Cargo.lock
cargo check --quiet --manifest-path fuzz/Cargo.toml --target-dir target
cargo test --locked --workspace
