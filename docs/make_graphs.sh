#!/usr/bin/env bash
# Renders the demo flow's graph for README.md: docs/characters.svg and docs/characters.png.
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

for flow in characters; do
  "$phonetree" graph "flows/$flow.yaml" --format dot > "docs/$flow.dot"
  dot -Tsvg "docs/$flow.dot" -o "docs/$flow.svg"
  dot -Tpng -Gdpi=110 "docs/$flow.dot" -o "docs/$flow.png"
  rm "docs/$flow.dot"
  echo "wrote docs/$flow.svg docs/$flow.png"
done
