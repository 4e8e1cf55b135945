#!/usr/bin/env bash
# Scale-out benchmark: 1, 2, 3 phonetree nodes behind Kamailio (bench/cluster.py, ~3 min; needs
# kamailio, kamcmd and sipp: bash .ci/install-deps.sh). Writes bench/CLUSTER.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --locked --bin phonetree
python3 bench/cluster.py > bench/CLUSTER.md.new && mv bench/CLUSTER.md.new bench/CLUSTER.md
cat bench/CLUSTER.md
