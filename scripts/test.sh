#!/usr/bin/env bash
# The test command: installs/builds what is missing, then runs every test file, each in its own
# process with a per-test and per-file time limit (scripts/run-tests.mjs). Extra arguments go to
# the runner: --heap-checks, --memcheck, --node PATH, or test names.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Node.js 20 is past end of life: on an older Node the suite runs on Node 22 (a maintained LTS
# line, from the npm registry) unless --node names one. The addon is Node-API, so one build serves.
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 22 ] && [[ " $* " != *" --node "* ]]; then
  node22="$(npx --yes -p node@22 -c 'node -p process.execPath')"
  echo "test: Node.js $(node --version) is past end of life; running the suite on Node.js $("$node22" --version)" >&2
  exec node scripts/run-tests.mjs --node "$node22" "$@"
fi
exec node scripts/run-tests.mjs "$@"
