#!/usr/bin/env bash
# The demo's quality system (called by scripts/demo.sh): the Control Site's users, the example
# spec released through change control (requested by `qa`, approved by `qa2`), and the POC
# Master File: demo-site the qualified reference site, demo-site-2 an additional site in
# qualification, their equipment (demo-site-2's rocker-1 left unregistered: a nonconformance)
# and trained personnel. Every step is a change request a second QA person approves, as QA
# would do it by hand; a step already done is refused and skipped, so a restart changes nothing.
# Usage: scripts/demo-quality.sh BIN_DIR CONTROL_CONFIG
set -uo pipefail
bin=$1
config=$2
control() { "$bin/pocare-control" "$@" --config "$config"; }

for who in "qp:qp:Demo Qualified Person" "qa:qa:Demo QA Reviewer" "qa2:qa:Demo QA Approver" "viewer:viewer:Demo Viewer"; do
  IFS=: read -r name role full <<< "$who"
  echo "demo-password-$name" | control users add "$name" --full-name "$full" --role "$role" > /dev/null 2>&1 || true
done

# Requested by qa, approved by qa2 (a second person) against the content hash qa's request printed.
change() {
  local out ref hash
  out=$(echo "demo-password-qa" | control "$@" --user qa 2> /dev/null) || return 0
  ref=$(printf '%s\n' "$out" | sed -n '1s/ requested:.*//p')
  hash=$(printf '%s\n' "$out" | sed -n 's/^content sha256://p')
  echo "demo-password-qa2" | control changes approve "$ref" --hash "$hash" --user qa2 --comment "demo: second person" > /dev/null 2>&1 || true
}

change specs release docs/examples/specs/cart-expansion-example.yaml --profiles DeviceProfiles \
  --reason "demo: the example IPC spec, released for the demo sites"
change sites register demo-site --name "Demo hospital A" --role reference --site-lead "Dr A. Lead" --qa-contact "A. QA" \
  --qualification qualified --reason "demo: qualified by technology transfer before this register (TT-DEMO-1)"
change sites register demo-site-2 --name "Demo hospital B" --role additional --site-lead "Dr B. Lead" --qa-contact "B. QA" \
  --reason "demo: a second site joins the network; in qualification until its comparability batch is certified and compared"
for device in rocker-1:rocking-bag-rb50 str-1:stirred-tank-str10 cpu-1:cell-processing-cpu1; do
  change sites equipment add demo-site "${device%%:*}" --profile "${device#*:}" --profiles DeviceProfiles --reason "demo: IQ/OQ done"
done
change sites equipment add demo-site-2 str-1 --profile stirred-tank-str10 --profiles DeviceProfiles --reason "demo: IQ/OQ done"
for site in demo-site demo-site-2; do
  change sites personnel add "$site" "$(id -un)" --name "Demo Operator" --role supervisor --trained "$(date -u +%Y-%m-01)" \
    --reason "demo: GxP training and SOPs done"
done
exit 0
