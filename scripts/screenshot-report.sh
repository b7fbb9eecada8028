#!/usr/bin/env bash
# Renders an OUT/report.html in headless Chromium to a PNG, to look at it as a person would.
# Usage: scripts/screenshot-report.sh OUT/report.html report.png
# Needs Chromium (Debian: apt-get install chromium).
set -euo pipefail
report="$(realpath "$1")"; png="$(realpath -m "${2:-report.png}")"
browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
[ -n "$browser" ] || { echo "chromium not found: apt-get install chromium" >&2; exit 1; }
profile="$(mktemp -d)"; trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --window-size=1280,1400 --hide-scrollbars \
  --screenshot="$png" "file://$report" >/dev/null 2>&1
[ -s "$png" ] || { echo "no screenshot was written" >&2; exit 1; }
echo "$png"
