#!/usr/bin/env bash
# Before/after check for a restructuring (issue 24): runs the smoke demo and a smoke `eclipse
# defend` on AR from this checkout into OUT, then prints the digest of their outputs (tensors and
# metadata without timings or paths, test accuracies, preview PNGs). Run it on the commit before
# the change and after it; the two digests must be identical.
#   scripts/refactor-check.sh OUT        (needs CIFAR-10: $ECLIPSE_CIFAR10 or the shared copy)
set -euo pipefail
out=$(realpath -m "${1:?usage: scripts/refactor-check.sh OUT}")
cd "$(dirname "$0")/.."
rm -rf "$out"; mkdir -p "$out"
export ECLIPSE_QUIET_NODE_WARNING=1
node=node
[ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ] && node="$(npx --yes -p node@22 -c 'node -p process.execPath')"
"$node" bin/eclipse.js demo --profile smoke --out "$out/demo" --threads 2 --quiet > "$out/demo.log" 2>&1
"$node" bin/eclipse.js poison --attack ar --profile smoke --out "$out/ar.safetensors" --threads 2 --quiet > "$out/poison.log" 2>&1
"$node" bin/eclipse.js defend --profile smoke --train "$out/ar.safetensors" --out "$out/defend" --threads 2 --quiet > "$out/defend.log" 2>&1
node scripts/output-digest.mjs "$out"
