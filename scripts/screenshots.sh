#!/usr/bin/env bash
# Regenerates docs/screenshots/*.png: the sites, batch review and comparability pages, as
# headless Chromium renders them with the browser test's data (two sites, a batch with an
# excursion, alarms and a hole in its records). The pages need a signed-in user, so the
# browser test drives Chromium through chromedriver and saves each page as it checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
mkdir -p docs/screenshots
swift build --build-tests
POCARE_SCREENSHOTS="$PWD/docs/screenshots" POCARE_REQUIRE_BROWSER=1 swift test --skip-build --filter BrowserTests
ls -l docs/screenshots
