#!/usr/bin/env bash
# The `facenet` (libtorch) backend's tests, end to end on a fresh machine: set up libtorch and
# the converted models (scripts/setup-facenet.sh), fetch the ONNX models and test photos the
# shared tests use, then lint and test with `--features facenet`: the torch crate's unit tests
# and the facenet integration tests (the real binary on the sample photos). Not part of
# scripts/test.sh: the torch install is about 5 GB and torch-sys takes minutes to compile.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

scripts/setup-facenet.sh
SITE="$(.cache/facenet-venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
export LIBTORCH="$SITE/torch"
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# The integration tests also run the default (ONNX) backend for comparison.
scripts/build-deps.sh
cargo build --locked --quiet
./target/debug/photo_organizer setup
scripts/fetch-test-photos.sh

# Always the whole workspace with the root's `facenet` feature: another feature set (say
# `-p po-backend-torch --features libtorch`) resolves dependencies differently and compiles
# torch-sys's C++ once more (minutes).
cargo clippy --locked --workspace --all-targets --features facenet --quiet -- -D warnings
cargo test --locked --workspace --features facenet --lib
cargo test --locked --workspace --features facenet --test integration facenet
echo "test-facenet.sh: all passed in $(($(date +%s) - start)) s"
