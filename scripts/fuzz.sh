#!/usr/bin/env bash
# Runs a fuzz target (see docs/FUZZING.md; TARGET: decode (default), raw_preview,
# cache_blobs or xmp) for SECONDS (default 600), its corpus seeded with the real test photos. Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
target="${2:-decode}"
scripts/fetch-test-photos.sh
corpus="fuzz/corpus/$target"
mkdir -p "$corpus"
find .cache/testdata -type f ! -name .done -size -2M -exec cp -n {} "$corpus/" \;
cd fuzz
cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=4194304
