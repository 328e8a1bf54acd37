#!/usr/bin/env bash
# A longer run of the configuration fuzz harness than the test suite's 200 mutations per file:
# every shipped profile, the example spec and the demo site configuration, mutated COUNT times
# each (default 20000), held to "a result or located diagnostics, never a trap".
#   scripts/fuzz-config.sh [COUNT]
set -euo pipefail
cd "$(dirname "$0")/.."
count="${1:-20000}"
swift build --build-tests
POCARE_FUZZ_COUNT="$count" swift test --skip-build --filter ConfigurationFuzzTests
