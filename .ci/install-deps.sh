#!/usr/bin/env bash
# Installs the Debian packages the tests use, only those missing. Quiet and idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(pkg-config libopus-dev sox libsox-fmt-all)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
