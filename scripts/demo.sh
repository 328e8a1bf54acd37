#!/usr/bin/env bash
# The main job on the embedded default: simulated bioreactors (pocare-sim), a local mosquitto
# broker standing in for the Control Site's (each site and the Control Site sign in as
# themselves; no anonymous client), the site daemon (pocared) polling, evaluating
# against the example IPC spec, storing in .build/demo/site.db and publishing, and a Control
# Site subscriber (pocarectl subscribe) printing what arrives. Behind it runs the Control Site
# itself: a private PostgreSQL cluster on 127.0.0.1:15432, `pocare-control run` ingesting, and a
# second site (demo-site-2, its own simulators and daemon, logs in .build/demo/site-2/) so that
# the oversight commands compare two sites. On each site the stirred tank runs short batches
# (a new one every 20 s), so `compare` has batches to judge after a minute. The sites run with
# release required: the demo releases its spec through the Control Site first, and each site's
# configured batches start once the register of released specs reaches it.
# Ctrl-C, or SIGTERM, stops everything it started.
#
#   scripts/demo.sh
#   scripts/demo.sh --scenario docs/examples/faults-demo.txt
#   scripts/demo.sh --fault "device=rocker-1 kind=excursion parameter=temperature value=39.5 from=20s to=80s"
#   scripts/demo.sh broker stop     # while the demo runs: the Control Site goes away...
#   scripts/demo.sh broker start    # ...and comes back; the backlog arrives
#
# While it runs, in another terminal (see docs/control-site.md):
#   .build/release/pocare-control sites --config docs/examples/control-demo.yaml
#   .build/release/pocare-control compare --config docs/examples/control-demo.yaml \
#       --spec <first 12 digits from `specs list`> --phase expansion --reference demo-site
#
# Extra arguments go to the first site's simulator. `broker stop|start` touches only the demo's
# own broker (the process whose id is in .build/demo/broker/pid), never another mosquitto on
# the machine; the demo's PostgreSQL is stopped with the demo.
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

# The Control Site's database: a private PostgreSQL cluster in the demo's folder (initdb once),
# on 127.0.0.1:15432 with its socket beside the data. PostgreSQL refuses to run as root, so as
# root it runs as the `postgres` user; its folder must then be one that user can reach.
control_config=docs/examples/control-demo.yaml
pg_port=15432
pg_bin() { echo "/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -n 1)/bin/$1"; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_dir() {
  local dir=$PWD/.build/demo/postgres
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PWD/.build/demo" 2>/dev/null; then
    dir=${TMPDIR:-/tmp}/pocare-demo-postgres
  fi
  echo "$dir"
}

postgres_start() {
  local dir
  dir=$(pg_dir)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$(pg_bin initdb)" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C > "$dir/initdb.log" 2>&1
  fi
  as_pg "$(pg_bin pg_ctl)" -D "$dir/data" -l "$dir/server.log" -w start \
    -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1" > /dev/null
  as_pg "$(pg_bin psql)" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'pocare_control'" | grep -q 1 \
    || as_pg "$(pg_bin createdb)" -h 127.0.0.1 -p "$pg_port" -U postgres pocare_control
  echo "demo PostgreSQL started (127.0.0.1:$pg_port, data in $dir/data)"
}

postgres_stop() {
  local dir
  dir=$(pg_dir)
  [ -f "$dir/data/postmaster.pid" ] && as_pg "$(pg_bin pg_ctl)" -D "$dir/data" -m fast -w stop > /dev/null 2>&1 || true
}

# Short batches on a site's stirred tank, one every 20 s, ended and started by the operator's
# own commands (so each is in the audit trail): what `compare` needs is several ended batches
# per site, and a real culture takes days. With a count, only that many batches.
batch_cycle() {
  local socket=$1 prefix=$2 count=${3:-0} n=0 nap=
  # A command that fails here (a start refused) is shown in the site's log, and the cycle goes on.
  set +e
  # Its sleeps end with it: SIGTERM (from cleanup) interrupts the wait and takes the sleep along.
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  until [ -S "$socket" ]; do sleep 1 & nap=$!; wait "$nap"; done
  while true; do
    sleep 20 & nap=$!
    wait "$nap"
    n=$((n + 1))
    "$bin/pocarectl" --socket "$socket" batch end str-1 --reason "demo: short batch done" > /dev/null 2>&1 || true
    if [ "$count" -gt 0 ] && [ "$n" -gt "$count" ]; then break; fi
    # Named by its fingerprint: a file an operator names must lie in the site's spec folder.
    "$bin/pocarectl" --socket "$socket" batch start str-1 --batch "$prefix-$(date -u +%H%M%S)" \
      --spec "$spec_fingerprint" --phase expansion --reason "demo: next short batch" > /dev/null 2>&1 || true
  done
}

# The demo's QP certifies each ended batch whose site record agrees with the data held, through
# the web pages' own forms (the sign-in token, the session's CSRF token, the password entered
# again), as a reviewer would in a browser: so the reference site's batches count as certified.
demo_certify() {
  local done=.build/demo/control/certified site batch hash nap=
  touch "$done"
  # `batch` exits 1 for a record with exceptions, and a signature may be refused: neither ends the loop.
  set +e
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while true; do
    sleep 15 & nap=$!
    wait "$nap"
    "$bin/pocare-control" batches --config "$control_config" --json 2>/dev/null \
      | awk -F'"' '/"batch" :/ {b=$4} /"site" :/ {print $4, b}' | sort -u | while read -r site batch; do
      grep -qx "$site $batch" "$done" && continue
      hash=$("$bin/pocare-control" batch "$site" "$batch" --config "$control_config" --json 2>/dev/null \
        | sed -n 's/.*"record_hash" : "\([0-9a-f]*\)".*/\1/p' | head -n 1)
      [ -n "$hash" ] || continue
      echo demo-password-qa | "$bin/pocare-control" disposition review "$site" "$batch" --hash "$hash" --user qa \
        --comment "demo: reviewed by exception" --config "$control_config" > /dev/null 2>&1
      echo demo-password-qp | "$bin/pocare-control" disposition certify "$site" "$batch" --hash "$hash" --user qp \
        --comment "demo: certified after review" --config "$control_config" > /dev/null 2>&1 && echo "$site $batch" >> "$done"
    done
  done
}

# Each demo site is a known identity (docs/mqtt.md, "Security"; docs/control-site.md, "Site
# identities"): it signs in to the broker with credentials of its own, the broker's ACL lets it
# publish only under its own prefix and read only its own replay requests, and it signs its
# checkpoints and statuses with its own Ed25519 key, registered for it in the Control Site's
# configuration. Credentials and keys are made once, in .build/demo/identity; the configurations
# that name them are written beside (.build/demo/*.yaml), from the ones in docs/examples.
identity_dir=.build/demo/identity
demo_identities() {
  mkdir -p "$identity_dir" && chmod 700 "$identity_dir"
  : > "$broker_dir/pocare.passwd" && chmod 600 "$broker_dir/pocare.passwd"
  local user
  for user in demo-site demo-site-2 pocare-control; do
    if [ ! -f "$identity_dir/$user.credentials" ]; then
      (umask 077; printf '%s\n%s\n' "$user" "$(head -c 18 /dev/urandom | base64)" > "$identity_dir/$user.credentials")
    fi
    mosquitto_passwd -b "$broker_dir/pocare.passwd" "$user" "$(sed -n 2p "$identity_dir/$user.credentials")"
  done
  cat > "$broker_dir/pocare.acl" <<ACL
pattern write pocare/v1/%u/status
pattern write pocare/v1/%u/audit
pattern write pocare/v1/%u/+/telemetry
pattern write pocare/v1/%u/+/events
pattern write pocare/v1/%u/+/meta
pattern write pocare/v1/%u/specs/+
pattern write pocare/v1/%u/replay/status
pattern read pocare/v1/%u/replay
pattern read pocare/v1/%u/register/#
user pocare-control
topic read pocare/v1/#
topic write pocare/v1/+/replay
topic write pocare/v1/+/register/#
ACL
  for user in demo-site demo-site-2; do
    [ -f "$identity_dir/$user.pem" ] || "$bin/pocarectl" identity init --key "$identity_dir/$user.pem" > /dev/null
  done
  # The Control Site's own key signs its replay requests; each site holds its public key.
  [ -f "$identity_dir/pocare-control.pem" ] || "$bin/pocare-control" identity init --key "$identity_dir/pocare-control.pem" > /dev/null
  local control_key
  control_key=$("$bin/pocare-control" identity show --key "$identity_dir/pocare-control.pem")
  # The site configurations sit two levels below the package, as those in docs/examples do, so
  # their relative paths still hold; their specs are the examples'.
  ln -sfn ../../docs/examples/specs .build/demo/specs
  local site file
  for site in demo-site:site-demo demo-site-2:site-demo-2; do
    file=${site#*:}
    sed "s|^control_site: { \(.*\) }\$|control_site: { \1, credentials_file: $PWD/$identity_dir/${site%%:*}.credentials, identity_key: $PWD/$identity_dir/${site%%:*}.pem, control_site_key: \"$control_key\" }|" \
      "docs/examples/$file.yaml" > ".build/demo/$file.yaml"
  done
  {
    grep -v -e '^sites:' -e '^# The sites whose' "$control_config"
    echo "credentials_file: $PWD/$identity_dir/pocare-control.credentials"
    echo "identity_key: $PWD/$identity_dir/pocare-control.pem"
    echo "sites:"
    for site in demo-site demo-site-2; do
      echo "  $site: { keys: [ { key: \"$("$bin/pocarectl" identity show --key "$identity_dir/$site.pem")\" } ] }"
    done
  } > .build/demo/control.yaml
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

# Every process the demo starts is in pids. On Ctrl-C, SIGTERM or exit each gets SIGTERM (a
# background job of a script ignores SIGINT), five seconds to stop, then SIGKILL; then the
# broker and PostgreSQL stop.
pids=()
stopped=
cleanup() {
  [ -n "$stopped" ] && return
  stopped=1
  trap - INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  broker_stop > /dev/null
  postgres_stop
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

demo_identities
cat > "$broker_dir/mosquitto.conf" <<CONF
listener 18830 127.0.0.1
allow_anonymous false
password_file $PWD/$broker_dir/pocare.passwd
acl_file $PWD/$broker_dir/pocare.acl
persistence true
persistence_location $PWD/$broker_dir/
max_queued_messages 0
$( [ "$(id -u)" = 0 ] && echo "user root" )
CONF
broker_start
postgres_start

# Without arguments the reference site's rocking bag has a temperature excursion a minute in,
# so the Control Site opens a deviation for QA to close.
if [ $# -eq 0 ]; then
  set -- --fault "device=rocker-1 kind=excursion parameter=temperature value=38.4 from=60s to=110s"
fi
"$bin/pocare-sim" "$@" &
pids+=($!)
mkdir -p .build/demo/site-2 .build/demo/control
"$bin/pocare-sim" --seed 2 \
  --device rocker-1=rocking-bag-rb50.yaml@127.0.0.1:5030 \
  --device str-1=stirred-tank-str10.yaml@127.0.0.1:5031 \
  --fault "device=str-1 kind=offset parameter=temperature value=0.5 from=10m" \
  > .build/demo/site-2/simulator.log 2>&1 &
pids+=($!)
sleep 1

# The Control Site: its users, the example spec released and the POC Master File, each change
# requested by one QA person and approved by another (scripts/demo-quality.sh); then ingest runs.
spec=docs/examples/specs/cart-expansion-example.yaml
spec_fingerprint=$("$bin/pocarectl" spec show "$spec" --profiles DeviceProfiles 2>/dev/null | sed -n 's/.*sha256:\([0-9a-f]\{64\}\).*/\1/p' | head -n 1)
scripts/demo-quality.sh "$bin" "$control_config"
"$bin/pocare-control" run --config .build/demo/control.yaml > .build/demo/control/log 2>&1 &
pids+=($!)
# The sites start once the Control Site has subscribed, so its session holds all they publish.
for _ in $(seq 1 60); do grep -q subscribed .build/demo/control/log 2>/dev/null && break; sleep 0.5; done
rel=${bin#"$PWD"/}
cat <<TEXT
Control Site: pocare-control ingests demo-site (the reference) and demo-site-2 into PostgreSQL
(127.0.0.1:$pg_port; log in .build/demo/control/log). Its web pages: http://127.0.0.1:8080/
(users qp, qa, qa2, viewer; password demo-password-<user>). In another terminal, after a minute:
  $rel/pocare-control sites --config $control_config
  $rel/pocare-control batches --config $control_config
  $rel/pocare-control compare --config $control_config --spec $("$bin/pocarectl" spec show "$spec" --profiles DeviceProfiles 2>/dev/null | sed -n 's/.*sha256:\([0-9a-f]\{12\}\).*/\1/p' | head -n 1) --phase expansion --reference demo-site --profile stirred-tank-str10 --bucket 5
TEXT

"$bin/pocared" --config .build/demo/site-demo-2.yaml --store .build/demo/site-2/site.db \
  > .build/demo/site-2/log 2>&1 &
pids+=($!)
batch_cycle .build/demo/pocared.sock DEMO-S1 &
pids+=($!)
# demo-site-2 is an additional site: one comparability batch on its stirred tank.
batch_cycle .build/demo/site-2/pocared.sock DEMO-S2 1 &
pids+=($!)
demo_certify &
pids+=($!)

# The subscriber's own id in pids (not the sed's): its output goes through a process
# substitution, which ends when the subscriber does.
"$bin/pocarectl" subscribe --broker mqtt://127.0.0.1:18830 --site demo-site --client-id control-site-demo \
  --credentials-file "$identity_dir/pocare-control.credentials" > >(sed -u 's/^/    CONTROL SITE <- /') 2>&1 &
pids+=($!)
"$bin/pocared" --config .build/demo/site-demo.yaml --store .build/demo/site.db --print-values &
pids+=($!)
wait "${pids[-1]}"
