#!/usr/bin/env bash
# Times profile validation on generated profiles of 2,000, 16,000 and 70,000 parameters, to show
# it grows with the file's size, not with its square (overlap checks sort; they do not compare
# every pair). Release build.
#   scripts/bench-validation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product pocarectl >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$bin/pocarectl" "$work" <<'PY'
import os, subprocess, sys, time
pocarectl, work = sys.argv[1], sys.argv[2]
for n in (2000, 16000, 70000):
    path = os.path.join(work, f"profile-{n}.yaml")
    lines = ["profile: generated", "vendor: Benchmark", "model: Many registers", "parameters:"]
    for i in range(n):
        # Addresses wrap past 65,000, so the largest file also has overlaps to find and report.
        lines.append(f"  - {{id: p{i}, table: holding_register, address: {i % 65000}, type: uint16, unit: \"1\"}}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    start = time.monotonic()
    subprocess.run([pocarectl, "profile", "validate", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"{n:6d} parameters, {os.path.getsize(path):8d} bytes: {time.monotonic() - start:.2f} s")
PY
