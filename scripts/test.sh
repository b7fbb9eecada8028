#!/usr/bin/env bash
# The test command (CI runs exactly this via .ci/run). On a fresh machine it fetches what the
# tests need: the ONNX Runtime library and models (`photo_organizer setup`, into the user cache)
# and the real test photos (scripts/fetch-test-photos.sh, into .cache/); then checks format and
# lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked --quiet
./target/debug/photo_organizer setup
scripts/fetch-test-photos.sh
scripts/build-eval-set.sh
cargo fmt --all --check
cargo clippy --locked --workspace --all-targets --quiet -- -D warnings
cargo test --locked --workspace
