#!/usr/bin/env bash
# Installs what eclipse needs and builds it; safe to re-run (skips what is done).
#   - Debian's libtorch-dev (the engine) and python3-torch (the PyTorch peer for benchmarks
#     and golden outputs), unless LIBTORCH points at another libtorch; valgrind, gdb,
#     chromium and redis-server for the tests
#   - npm packages, the native addon (node-gyp), the TypeScript build
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
if [ -z "${LIBTORCH:-}" ] && [ ! -e /usr/lib/x86_64-linux-gnu/libtorch.so ]; then need_apt+=(libtorch-dev); fi
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then need_apt+=(python3-torch); fi
# valgrind for `npm run test:memcheck`; gdb lets a hung test print its native stacks
for tool in valgrind gdb; do command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool"); done
# chromium: test/report.test.ts loads `eclipse report`'s page in a real headless browser (playwright-core)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
# redis-server: test/queue.test.ts starts one on a loopback port for the distributed queue (docs/queue.md)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (Debian packages)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

addon=build/Release/eclipse_native.node
build_addon() {
  # The C++ standard and _GLIBCXX_USE_CXX11_ABI come from that libtorch (scripts/torch-config.mjs).
  echo "setup: building the native engine against ${LIBTORCH:-Debian libtorch} ($(node scripts/torch-config.mjs cflags))" >&2
  npx node-gyp rebuild -j 2 --loglevel=warn >&2
}
built=0
if [ ! -f "$addon" ] || [ native/engine.cc -nt "$addon" ] || [ binding.gyp -nt "$addon" ] || [ scripts/torch-config.mjs -nt "$addon" ] || [ -n "${LIBTORCH:-}" ]; then
  build_addon
  built=1
fi

echo "setup: compiling TypeScript" >&2
npx tsc -p tsconfig.json
# Load the engine and run an op on each device; an addon left from another libtorch is rebuilt once.
if ! node scripts/check-engine.mjs; then
  [ "$built" -eq 1 ] && exit 1
  echo "setup: rebuilding the native engine" >&2
  build_addon
  node scripts/check-engine.mjs
fi
