#!/usr/bin/env bash
# Runs the decode fuzz target (see docs/FUZZING.md) for SECONDS (default 600), its corpus
# seeded with the real test photos. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
scripts/fetch-test-photos.sh
corpus=fuzz/corpus/decode
mkdir -p "$corpus"
find .cache/testdata -type f ! -name .done -size -2M -exec cp -n {} "$corpus/" \;
cd fuzz
cargo +nightly fuzz run decode "corpus/decode" -- -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=4194304
