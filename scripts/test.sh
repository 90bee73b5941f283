#!/usr/bin/env bash
# The test command: installs/builds what is missing, then runs every test file.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --test --test-concurrency=1 --test-reporter=spec dist/test/*.test.js
