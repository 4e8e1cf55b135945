#!/usr/bin/env bash
# Installs what the tests use, only what is missing. Quiet and idempotent; fast when all is present.
#  - Debian packages: the build (pkg-config, libopus-dev) and the interop peers (tests/interop/):
#    sipp (sip-tester), baresip, kamailio, tshark, sox, espeak-ng, python3-venv.
#  - A Python venv for the pjsua2 peers and the audio matcher, at $PHONETREE_INTEROP_VENV
#    (default /opt/phonetree-interop/venv), with pjsua2-python and numpy from PyPI.
#  - postgresql: the database tests start their own throwaway server (tests/pg_support); no
#    system cluster is created or started.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(pkg-config libopus-dev
  sip-tester baresip baresip-core kamailio espeak-ng sox libsox-fmt-all tshark python3-venv
  postgresql)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # tshark asks whether non-root users may capture; answer no, without a prompt.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  # postgresql: no root-owned "main" cluster on port 5432 (the tests make their own).
  mkdir -p /etc/postgresql-common
  grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf ||
    echo "create_main_cluster = false" >>/etc/postgresql-common/createcluster.conf
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv=${PHONETREE_INTEROP_VENV:-/opt/phonetree-interop/venv}
# The pjsua2-python wheel is built for Debian 12's CPython: use the system interpreter.
if ! "$venv/bin/python" -c 'import pjsua2, numpy' 2>/dev/null; then
  echo "creating the interop venv: $venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pjsua2-python numpy
fi
# Twilio's side of Media Streams for the Twilio-leg interop tests (tests/interop_twilio.rs):
# streamdouble (Apache-2.0; brings websockets and pyyaml, which stream_bot.py uses too).
if ! "$venv/bin/python" -c 'import streamdouble, websockets' 2>/dev/null; then
  echo "installing streamdouble into the interop venv"
  "$venv/bin/pip" install -q --disable-pip-version-check streamdouble
fi
