#!/usr/bin/env bash
# Installs POCare Edge: release binaries, device profiles, documentation, an example
# configuration, the systemd unit, sysusers and tmpfiles entries.
#
#   sudo scripts/install.sh                        # PREFIX=/usr/local
#   sudo PREFIX=/usr scripts/install.sh
#   PREFIX=/usr DESTDIR=/tmp/stage scripts/install.sh   # into a staging tree (packaging)
#
# BIN_DIR=DIR takes the binaries from DIR instead of building them. Built here, they link the
# Swift runtime statically (in .build-install/), so a site machine needs no Swift toolchain.
# An existing /etc/pocare/site.yaml is never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
if [ -z "${BIN_DIR:-}" ]; then
  build=(swift build -c release --static-swift-stdlib --scratch-path .build-install)
  for product in pocared pocarectl pocare-sim; do "${build[@]}" --product "$product"; done
  BIN_DIR=$("${build[@]}" --show-bin-path)
fi
root="$DESTDIR"
bindir="$PREFIX/bin"
sharedir="$PREFIX/share/pocare"
docdir="$PREFIX/share/doc/pocare"
unitdir="$PREFIX/lib/systemd/system"

install -d "$root$bindir" "$root$sharedir/DeviceProfiles" "$root$docdir/examples/specs" "$root$unitdir" \
  "$root$PREFIX/lib/sysusers.d" "$root$PREFIX/lib/tmpfiles.d" "$root/etc/pocare/specs"
for program in pocared pocarectl pocare-sim; do
  install -m 0755 "$BIN_DIR/$program" "$root$bindir/$program"
done
install -m 0644 DeviceProfiles/*.yaml "$root$sharedir/DeviceProfiles/"
install -m 0644 README.md docs/*.md docs/asyncapi.yaml "$root$docdir/"
install -m 0644 docs/examples/specs/*.yaml "$root$docdir/examples/specs/"
install -m 0644 docs/examples/faults-demo.txt "$root$docdir/examples/"
sed -e "s|@BINDIR@|$bindir|g" -e "s|@DOCDIR@|$docdir|g" systemd/pocared.service > "$root$unitdir/pocared.service"
chmod 0644 "$root$unitdir/pocared.service"
install -m 0644 systemd/pocare.sysusers "$root$PREFIX/lib/sysusers.d/pocare.conf"
install -m 0644 systemd/pocare.tmpfiles "$root$PREFIX/lib/tmpfiles.d/pocare.conf"

# The example configuration: the site fills in its devices, spec and Control Site.
if [ ! -e "$root/etc/pocare/site.yaml" ]; then
  sed -e "s|@SHAREDIR@|$sharedir|g" systemd/site.example.yaml > "$root/etc/pocare/site.yaml"
  chmod 0640 "$root/etc/pocare/site.yaml"
fi
install -m 0640 docs/examples/specs/cart-expansion-example.yaml "$root/etc/pocare/specs/cart-expansion-example.yaml"

if [ -z "$DESTDIR" ] && command -v systemd-sysusers > /dev/null && [ -d /run/systemd/system ]; then
  systemd-sysusers "$PREFIX/lib/sysusers.d/pocare.conf"
  systemd-tmpfiles --create "$PREFIX/lib/tmpfiles.d/pocare.conf"
  # The daemon (user pocare) reads its configuration; nobody else needs to.
  chgrp -R pocare /etc/pocare
  chmod 0750 /etc/pocare /etc/pocare/specs
  systemctl daemon-reload
  echo "installed; edit /etc/pocare/site.yaml, then: systemctl enable --now pocared"
else
  echo "installed into ${DESTDIR:-/} with PREFIX=$PREFIX"
fi
