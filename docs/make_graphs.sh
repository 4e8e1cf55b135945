#!/usr/bin/env bash
# Renders the demo flows' graphs: docs/<flow>.svg for each demo flow, and docs/characters.png
# (the picture in README.md).
#
#   docs/make_graphs.sh        # from the repository root or anywhere
#
# Needs: graphviz (`apt-get install -y graphviz`) and a built phonetree (cargo build).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v dot >/dev/null || { echo "make_graphs.sh: graphviz (dot) is not installed" >&2; exit 2; }

phonetree="${PHONETREE:-target/debug/phonetree}"
[[ -x "$phonetree" ]] || cargo build --quiet --bin phonetree

tmp="$(mktemp)"
trap 'rm -f "$tmp"' EXIT
for flow in characters main-menu agent; do
  "$phonetree" graph "flows/$flow.yaml" --format dot > "$tmp"
  dot -Tsvg "$tmp" -o "docs/$flow.svg"
  echo "wrote docs/$flow.svg"
  if [[ $flow == characters ]]; then
    dot -Tpng -Gdpi=110 "$tmp" -o "docs/$flow.png"
    echo "wrote docs/$flow.png"
  fi
done
