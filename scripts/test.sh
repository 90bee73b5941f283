#!/usr/bin/env bash
# The test command: installs/builds what is missing, then runs every test file, each in its own
# process with a per-test and per-file time limit (scripts/run-tests.mjs). Extra arguments go to
# the runner: --heap-checks, --memcheck, --node PATH, or test names.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
