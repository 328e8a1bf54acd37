#!/usr/bin/env bash
# The main job on the embedded default: three simulated bioreactors (pocare-sim) and the
# site daemon (pocared) polling them, printing live values and alarms, and keeping every
# record in the site store .build/demo/site.db. Ctrl-C stops both.
#
#   scripts/demo.sh                       # normal run
#   scripts/demo.sh --fault "device=rocker-1 kind=excursion parameter=temperature value=39.5 from=20s to=50s"
#
# Extra arguments go to the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
bin=$(swift build -c release --show-bin-path)

"$bin/pocare-sim" "$@" &
sim=$!
trap 'kill -INT $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT INT TERM
sleep 1
mkdir -p .build/demo
"$bin/pocared" --config docs/examples/site-demo.yaml --store .build/demo/site.db --print-values
