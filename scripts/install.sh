#!/usr/bin/env bash
# Installs POCare Edge: release binaries, device profiles, documentation, an example
# configuration, the systemd units, sysusers and tmpfiles entries.
#
#   sudo scripts/install.sh                        # a site: PREFIX=/usr/local
#   sudo PREFIX=/usr scripts/install.sh
#   sudo PARTS=control scripts/install.sh          # the Control Site: pocare-control and its unit
#   PREFIX=/usr DESTDIR=/tmp/stage PARTS="site control" scripts/install.sh   # into a staging tree (packaging)
#
# BIN_DIR=DIR takes the binaries from DIR instead of building them. Built here, they link the
# Swift runtime statically (in .build-install/), so a site machine needs no Swift toolchain.
# An existing /etc/pocare/site.yaml or control.yaml is never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
PARTS=${PARTS:-site}
has_part() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
products=()
has_part site && products+=(pocared pocarectl pocare-sim)
has_part control && products+=(pocare-control)
if [ ${#products[@]} -eq 0 ]; then echo "PARTS must name site, control or both, got '$PARTS'" >&2; exit 2; fi
if [ -z "${BIN_DIR:-}" ]; then
  build=(swift build -c release --static-swift-stdlib --scratch-path .build-install)
  for product in "${products[@]}"; do "${build[@]}" --product "$product"; done
  BIN_DIR=$("${build[@]}" --show-bin-path)
fi
root="$DESTDIR"
bindir="$PREFIX/bin"
sharedir="$PREFIX/share/pocare"
docdir="$PREFIX/share/doc/pocare"
unitdir="$PREFIX/lib/systemd/system"

install -d "$root$bindir" "$root$docdir" "$root$unitdir" "$root$PREFIX/lib/sysusers.d" "$root/etc/pocare"
for program in "${products[@]}"; do
  install -m 0755 "$BIN_DIR/$program" "$root$bindir/$program"
done
install -m 0644 README.md docs/*.md docs/asyncapi.yaml "$root$docdir/"
unit() { sed -e "s|@BINDIR@|$bindir|g" -e "s|@DOCDIR@|$docdir|g" "systemd/$1" > "$root$unitdir/$1"; chmod 0644 "$root$unitdir/$1"; }

if has_part site; then
  install -d "$root$sharedir/DeviceProfiles" "$root$docdir/examples/specs" "$root$PREFIX/lib/tmpfiles.d" "$root/etc/pocare/specs"
  install -m 0644 DeviceProfiles/*.yaml "$root$sharedir/DeviceProfiles/"
  install -m 0644 docs/examples/specs/*.yaml "$root$docdir/examples/specs/"
  install -m 0644 docs/examples/faults-demo.txt "$root$docdir/examples/"
  unit pocared.service
  install -m 0644 systemd/pocare.sysusers "$root$PREFIX/lib/sysusers.d/pocare.conf"
  install -m 0644 systemd/pocare.tmpfiles "$root$PREFIX/lib/tmpfiles.d/pocare.conf"
  # The example configuration: the site fills in its devices, spec and Control Site.
  if [ ! -e "$root/etc/pocare/site.yaml" ]; then
    sed -e "s|@SHAREDIR@|$sharedir|g" systemd/site.example.yaml > "$root/etc/pocare/site.yaml"
    chmod 0640 "$root/etc/pocare/site.yaml"
  fi
  install -m 0640 docs/examples/specs/cart-expansion-example.yaml "$root/etc/pocare/specs/cart-expansion-example.yaml"
fi
if has_part control; then
  unit pocare-control.service
  install -m 0644 systemd/pocare-control.sysusers "$root$PREFIX/lib/sysusers.d/pocare-control.conf"
  if [ ! -e "$root/etc/pocare/control.yaml" ]; then
    sed -e "s|@SHAREDIR@|$sharedir|g" systemd/control.example.yaml > "$root/etc/pocare/control.yaml"
    chmod 0640 "$root/etc/pocare/control.yaml"
  fi
fi

if [ -z "$DESTDIR" ] && command -v systemd-sysusers > /dev/null && [ -d /run/systemd/system ]; then
  if has_part site; then
    systemd-sysusers "$PREFIX/lib/sysusers.d/pocare.conf"
    systemd-tmpfiles --create "$PREFIX/lib/tmpfiles.d/pocare.conf"
    # The daemon (user pocare) reads its configuration; nobody else needs to.
    chgrp -R pocare /etc/pocare
    chmod 0750 /etc/pocare /etc/pocare/specs
  fi
  if has_part control; then
    systemd-sysusers "$PREFIX/lib/sysusers.d/pocare-control.conf"
    has_part site || { chgrp pocare-control /etc/pocare; chmod 0750 /etc/pocare; }
    chgrp pocare-control /etc/pocare/control.yaml
  fi
  systemctl daemon-reload
  has_part site && echo "installed; edit /etc/pocare/site.yaml, then: systemctl enable --now pocared"
  has_part control && echo "installed; edit /etc/pocare/control.yaml, then: systemctl enable --now pocare-control"
else
  echo "installed into ${DESTDIR:-/} with PREFIX=$PREFIX (parts: $PARTS)"
fi
