#!/usr/bin/env bash
# The main job on the embedded default: three simulated bioreactors (pocare-sim), a local
# mosquitto broker standing in for the Control Site's, the site daemon (pocared) polling,
# evaluating against the example IPC spec, storing in .build/demo/site.db and publishing,
# and a Control Site subscriber (pocarectl subscribe) printing what arrives.
# Ctrl-C stops everything.
#
#   scripts/demo.sh
#   scripts/demo.sh --scenario docs/examples/faults-demo.txt
#   scripts/demo.sh --fault "device=rocker-1 kind=excursion parameter=temperature value=39.5 from=20s to=80s"
#
# Extra arguments go to the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release
bin=$(swift build -c release --show-bin-path)
mkdir -p .build/demo/broker

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

cat > .build/demo/broker/mosquitto.conf <<CONF
listener 18830 127.0.0.1
allow_anonymous true
persistence true
persistence_location $PWD/.build/demo/broker/
max_queued_messages 0
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
mosquitto -c .build/demo/broker/mosquitto.conf > .build/demo/broker/log 2>&1 &
pids+=($!)
"$bin/pocare-sim" "$@" &
pids+=($!)
sleep 1
"$bin/pocarectl" subscribe --broker mqtt://127.0.0.1:18830 --client-id control-site-demo 2>&1 \
  | sed -u 's/^/    CONTROL SITE <- /' &
pids+=($!)
"$bin/pocared" --config docs/examples/site-demo.yaml --store .build/demo/site.db --print-values &
pids+=($!)
wait "${pids[-1]}"
