#!/usr/bin/env bash
# Installs the Debian packages POCare Edge builds against and tests with.
# chromium and chromium-driver drive the browser test of the Control Site's web pages; curl checks their TLS.
# python3-numpy and python3-scipy run scripts/comparability-check.py, the independent check of the comparability
# method: Debian's packages, since Debian 12 refuses pip installs into its own python3 (PEP 668, externally managed).
# Needs root (or sudo); safe to run again.
set -euo pipefail
packages=(libmodbus-dev libmosquitto-dev libsqlite3-dev libssl-dev libpq-dev mosquitto mosquitto-clients openssl sqlite3 postgresql pkg-config systemd
          chromium chromium-driver curl python3 python3-numpy python3-scipy)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
