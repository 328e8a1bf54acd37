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
#   scripts/demo.sh broker stop     # while the demo runs: the Control Site goes away...
#   scripts/demo.sh broker start    # ...and comes back; the backlog arrives
#
# Extra arguments go to the simulator. `broker stop|start` touches only the demo's own broker
# (the process whose id is in .build/demo/broker/pid), never another mosquitto on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
broker_dir=.build/demo/broker
broker_pid_file=$broker_dir/pid

# The demo's broker, if it runs: its id from the PID file, checked against its command line.
broker_pid() {
  [ -f "$broker_pid_file" ] || return 1
  local pid
  pid=$(cat "$broker_pid_file")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "$broker_dir/mosquitto.conf" && echo "$pid"
}

broker_start() {
  if pid=$(broker_pid); then echo "demo broker already runs (pid $pid)"; return 0; fi
  mosquitto -c "$broker_dir/mosquitto.conf" >> "$broker_dir/log" 2>&1 &
  echo $! > "$broker_pid_file"
  echo "demo broker started (pid $!, 127.0.0.1:18830)"
}

broker_stop() {
  if pid=$(broker_pid); then
    kill -TERM "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    echo "demo broker stopped (pid $pid)"
  else
    echo "demo broker is not running"
  fi
  rm -f "$broker_pid_file"
}

if [ "${1:-}" = broker ]; then
  [ -f "$broker_dir/mosquitto.conf" ] || { echo "start the demo first (scripts/demo.sh)" >&2; exit 2; }
  case "${2:-}" in
    start) broker_start ;;
    stop) broker_stop ;;
    *) echo "usage: scripts/demo.sh broker start|stop" >&2; exit 2 ;;
  esac
  exit 0
fi

scripts/install-deps.sh
swift build -c release
bin=$(swift build -c release --show-bin-path)
mkdir -p "$broker_dir"

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  broker_stop > /dev/null
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

cat > "$broker_dir/mosquitto.conf" <<CONF
listener 18830 127.0.0.1
allow_anonymous true
persistence true
persistence_location $PWD/$broker_dir/
max_queued_messages 0
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
broker_start
"$bin/pocare-sim" "$@" &
pids+=($!)
sleep 1
"$bin/pocarectl" subscribe --broker mqtt://127.0.0.1:18830 --client-id control-site-demo 2>&1 \
  | sed -u 's/^/    CONTROL SITE <- /' &
pids+=($!)
"$bin/pocared" --config docs/examples/site-demo.yaml --store .build/demo/site.db --print-values &
pids+=($!)
wait "${pids[-1]}"
