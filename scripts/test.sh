#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# Chromium was just installed: the browser test must run, and fails if it cannot.
export POCARE_REQUIRE_BROWSER=1
# NumPy and SciPy were just installed: the independent check of comparability must run, and fails if it cannot.
export POCARE_REQUIRE_SCIPY=1
swift build --build-tests
# Many tests start a PostgreSQL cluster, a broker, daemons or a browser: three at a time is what
# two cores carry without starving the waits of the others (Swift Testing's default is 2 per core).
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-3}"
swift test --skip-build --parallel
