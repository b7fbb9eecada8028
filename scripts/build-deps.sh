#!/usr/bin/env bash
# What building needs beyond Rust: cmake and nasm, for libjpeg-turbo (the `turbojpeg` crate
# builds its bundled source: scaled JPEG decoding, src/media/jpeg_scaled.rs). Installs them with
# Debian's apt-get when missing and run as root; otherwise names the fix.
set -euo pipefail
missing=()
for tool in cmake nasm; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
else
  echo "building needs ${missing[*]} (for libjpeg-turbo): install them, e.g. \`sudo apt-get install ${missing[*]}\`, or use \`nix develop\`" >&2
  exit 1
fi
