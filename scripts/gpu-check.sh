#!/usr/bin/env bash
# The GPU check: run as it is on a machine with an NVIDIA GPU and a CUDA PyTorch, no Node and no
# network. It takes Node, dist/ and node_modules from .gpu-kit/ (scripts/gpu-pack.sh makes it;
# without it, a Node >= 20 on PATH and this checkout's dist/ and node_modules/), then:
#   environment         nvidia-smi, the python3 with torch, its CUDA and GPU
#   node                unpack the kit's Node and app (or take the system's)
#   build               compile the addon with the C++ compiler against that PyTorch's libtorch
#   load                scripts/check-engine.mjs: load it, one op on every device
#   ops_cpu, ops_cuda   scripts/gpu-ops.mjs: the op goldens on cpu, and on cuda against cpu
#   data                CIFAR-10 if found, else a small synthetic set in its binary layout
#   defend_cuda         a smoke `eclipse defend --device cuda` (on a machine without a GPU,
#   defend_cpu          the same on the cpu instead)
#   bench_engine_cuda   npm run bench -- engine / diffusion --device cuda --quick: eclipse and
#   bench_diffusion_cuda  PyTorch on the GPU, same shapes, same run
#   bench_harness_cpu   without a GPU: one short round of each benchmark on the cpu, to check
#                       the harness and the PyTorch peer
# Every step is recorded in $OUT/gpu-check.json (status ok/failed/skipped, reason, seconds, key
# numbers) and printed as one line; a failed step does not stop the others, only those that
# need it. Also written: $OUT/gpu-ops.json, $OUT/bench-{engine,diffusion}-cuda.json and
# $OUT/gpu-check.log (every step's output). Exit 0 when nothing failed (skips are fine), else 1.
#
#   OUT=/path/to/empty/folder bash scripts/gpu-check.sh
# Environment: OUT (default runs/gpu-check), ECLIPSE_PYTHON (the python3 with torch; default the
# first of python3, /usr/bin/python3, python with torch, preferring one that sees a GPU),
# GPU_CHECK_BUDGET (seconds for the whole run, default 540: steps that no longer fit are skipped
# so the JSON is complete before a 10-minute limit), GPU_CHECK_SYNTHETIC=1 (synthetic data even
# where CIFAR-10 is found), GPU_CHECK_KEEP=1 (keep the scratch folder), CXX (the compiler).
set -uo pipefail # no -e: a failed check is recorded and the run goes on
cd "$(dirname "$0")/.."
ROOT=$PWD
KIT=$ROOT/.gpu-kit
T0=$(date +%s)
BUDGET=${GPU_CHECK_BUDGET:-540}
OUT=${OUT:-$ROOT/runs/gpu-check}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
# The kit's Node and the addon run from here: a /tmp mounted noexec cannot hold them.
printf '#!/bin/sh\n' >"$WORK/probe" && chmod +x "$WORK/probe"
if ! "$WORK/probe" 2>/dev/null; then
  rm -rf "$WORK"
  mkdir -p "$ROOT/runs"
  WORK=$(mktemp -d "$ROOT/runs/gpu-check-work.XXXXXX")
fi
cleanup() { if [ "${GPU_CHECK_KEEP:-0}" = 1 ]; then echo "gpu-check: scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT
LOG=$OUT/gpu-check.log
# this run's files only: nothing left from an earlier run in the same folder
rm -f "$OUT"/gpu-check.json "$OUT"/gpu-ops.json "$OUT"/bench-engine-cuda.json "$OUT"/bench-diffusion-cuda.json
: >"$LOG"
export ECLIPSE_QUIET_NODE_WARNING=1 # the system Node may be 20: its end-of-life warning is noise here

have() { command -v "$1" >/dev/null 2>&1; }
tmo() { if have timeout; then timeout "$@"; else "${@:2}"; fi; } # tmo SECONDS CMD...
now_ms() { date +%s%3N; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }

# ---------------------------------------------------------------------------
# Results: one JSON object per step, rewritten into $OUT/gpu-check.json after every step so
# that a run killed from outside still leaves what it had found.

json_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\t'/ }
  s=${s//$'\r'/}
  printf '"%s"' "$(printf '%s' "$s" | tr -d '\000-\037')"
}

STEPS=()
INFO=() # top-level "key": value pairs
WARNINGS=()
N_OK=0 N_FAILED=0 N_SKIPPED=0
SKIPPED_LIST=""

write_json() { # write_json COMPLETE(true|false)
  local steps="" info="" warn="" s
  for s in "${STEPS[@]+"${STEPS[@]}"}"; do steps+="${steps:+,$'\n'    }$s"; done
  for s in "${INFO[@]+"${INFO[@]}"}"; do info+="  $s,"$'\n'; done
  for s in "${WARNINGS[@]+"${WARNINGS[@]}"}"; do warn+="${warn:+, }$(json_str "$s")"; done
  cat >"$OUT/gpu-check.json.tmp" <<EOF
{
  "format": "eclipse-gpu-check-1",
  "complete": $1,
  "started": "$(date -u -d "@$T0" +%Y-%m-%dT%H:%M:%SZ)",
  "seconds": $(($(date +%s) - T0)),
$info  "warnings": [$warn],
  "summary": { "ok": $N_OK, "failed": $N_FAILED, "skipped": $N_SKIPPED },
  "steps": [
    $steps
  ]
}
EOF
  mv "$OUT/gpu-check.json.tmp" "$OUT/gpu-check.json"
}

record() { # record NAME ok|failed|skipped SECONDS REASON [EXTRA ("k": v, ...)]
  local name=$1 status=$2 secs=$3 reason=$4 extra=${5:-}
  STEPS+=("{ \"name\": \"$name\", \"status\": \"$status\", \"seconds\": $secs, \"reason\": $(json_str "$reason")${extra:+, $extra} }")
  case $status in
    ok) N_OK=$((N_OK + 1)) ;;
    failed) N_FAILED=$((N_FAILED + 1)) ;;
    skipped)
      N_SKIPPED=$((N_SKIPPED + 1))
      SKIPPED_LIST+="${SKIPPED_LIST:+; }$name ($reason)"
      ;;
  esac
  printf 'gpu-check: %-21s %-7s %6ss  %s\n' "$name" "$status" "$secs" "$reason" >&2
  write_json false
}
skip() { record "$1" skipped 0 "$2"; }
info() { INFO+=("\"$1\": $2"); }
warn() {
  WARNINGS+=("$1")
  echo "gpu-check: warning: $1" >&2
}

# run NAME LIMIT_S CMD...: CMD's output into $WORK/logs/NAME.log and $LOG, at most LIMIT_S
# seconds (capped by what is left of the budget). Sets RC and SECS.
run() {
  local name=$1 limit=$2
  shift 2
  local remaining=$(($(left) - 15))
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  [ "$limit" -lt 1 ] && limit=1
  mkdir -p "$WORK/logs"
  local log=$WORK/logs/$name.log t=$(now_ms)
  printf '\n### %s (limit %ss): %s\n' "$name" "$limit" "$*" >>"$LOG"
  if have timeout; then
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  else
    "$@" >"$log" 2>&1
  fi
  RC=$?
  SECS=$(awk -v ms=$(($(now_ms) - t)) 'BEGIN { printf "%.1f", ms / 1000 }')
  { [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; } && echo "(stopped after ${limit}s)" >>"$log"
  # at most 2 MB of each step in the combined log ($OUT's files come back with a size limit)
  tail -c 2000000 "$log" >>"$LOG"
  return 0
}
# The last lines of a step's log, for the reason of a failure.
tail_of() { tail -n "${2:-4}" "$WORK/logs/$1.log" 2>/dev/null | cut -c1-240 | tr '\n' ' ' | sed 's/ *$//'; }
# Enough budget left for a step needing about $2 seconds? Otherwise record it skipped.
fits() {
  if [ "$(left)" -lt "$2" ]; then
    skip "$1" "out of time: $(left)s of the ${BUDGET}s budget left, the step needs about $2s"
    return 1
  fi
}
# A field of a JSON file, read with the Node under test (JS expression over `j`).
jq_node() { "$NODE" -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); const v = (0, eval)("(j) => " + process.argv[2])(j); process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));' "$1" "$2" 2>/dev/null; }

# ---------------------------------------------------------------------------
# environment

t=$(now_ms)
gpu_line=""
if have nvidia-smi; then
  gpu_line=$(tmo 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -4 | tr '\n' ';' | sed 's/;$//')
fi
info host "$(json_str "$(uname -srm), $(nproc 2>/dev/null || echo '?') CPUs")"
info nvidia_smi "$(json_str "${gpu_line:-none}")"

# The python with torch: ECLIPSE_PYTHON, else the first candidate with torch, preferring one
# whose torch sees a GPU (a CUDA machine may also have a CPU-only system python).
TORCH_PROBE='
import json, os, sys, torch
d = {"python": sys.executable, "torch": torch.__version__, "dir": os.path.dirname(torch.__file__),
     "cuda_build": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
d["cpp_headers"] = os.path.isdir(os.path.join(d["dir"], "include", "torch"))
if d["cuda_available"]:
    d.update(devices=torch.cuda.device_count(), device=torch.cuda.get_device_name(0),
             capability="%d.%d" % torch.cuda.get_device_capability(0), cudnn=torch.backends.cudnn.version())
print(json.dumps(d)); print(d["dir"]); print(int(d["cuda_available"]))'
PY="" TORCH_JSON="" TORCH_DIR="" HAVE_GPU=0
if [ -n "${ECLIPSE_PYTHON:-}" ]; then candidates=("$ECLIPSE_PYTHON"); else candidates=(python3 /usr/bin/python3 python); fi
for c in "${candidates[@]}"; do
  have "$c" || continue
  probe=$(tmo 120 "$c" -c "$TORCH_PROBE" 2>/dev/null) || continue
  gpu=$(sed -n 3p <<<"$probe")
  # the first with torch, replaced by a later one only if that one sees a GPU and it does not
  [ -n "$PY" ] && { [ "$HAVE_GPU" = 1 ] || [ "$gpu" != 1 ]; } && continue
  PY=$(command -v "$c")
  TORCH_JSON=$(sed -n 1p <<<"$probe")
  TORCH_DIR=$(sed -n 2p <<<"$probe")
  HAVE_GPU=$gpu
done
secs=$(awk -v ms=$(($(now_ms) - t)) 'BEGIN { printf "%.1f", ms / 1000 }')
if [ -n "$PY" ]; then
  info torch "$TORCH_JSON"
  if [ "$HAVE_GPU" = 1 ]; then why="GPU usable from PyTorch ($PY)"; else why="no GPU usable from PyTorch ($PY): the cuda checks will be skipped"; fi
  record environment ok "$secs" "$why" "\"python\": $(json_str "$PY"), \"gpu\": $([ "$HAVE_GPU" = 1 ] && echo true || echo false)"
else
  record environment failed "$secs" "no python with torch among: ${candidates[*]} (set ECLIPSE_PYTHON)"
fi

# ---------------------------------------------------------------------------
# node: the kit's Node and app, or the system's

t=$(now_ms)
NODE="" NODE_INC="" APP="" node_reason=""
untar_xz() { # untar_xz FILE DIR: with xz, else with python's lzma (a CUDA machine has python)
  mkdir -p "$2"
  if have xz; then
    xz -dc "$1" | tar -C "$2" -xf -
  else
    "${PY:-python3}" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"
  fi
}
sources_hash() { find src bench test/helpers/golden-ops.ts -name '*.ts' -print0 | sort -z | xargs -0 sha256sum tsconfig.json package-lock.json | sha256sum | cut -c1-16; }
if [ -f "$KIT/manifest.json" ]; then
  node_tar=$(ls "$KIT"/node-v*-linux-x64.tar.xz 2>/dev/null | head -1)
  if [ -z "$node_tar" ] || [ ! -f "$KIT/app.tar.xz" ]; then
    node_reason="$KIT is incomplete (re-run scripts/gpu-pack.sh)"
  elif ! untar_xz "$node_tar" "$WORK/node" >>"$LOG" 2>&1 || ! untar_xz "$KIT/app.tar.xz" "$WORK/app" >>"$LOG" 2>&1; then
    node_reason="cannot unpack the kit (see gpu-check.log)"
  else
    NODE=$WORK/node/bin/node
    NODE_INC=$WORK/node/include/node
    APP=$WORK/app
    # The app runs from a scratch root: the kit's dist/ and node_modules/, and the files of this
    # checkout that the scripts read (the Python peers, the goldens, the CLI entry).
    mkdir -p "$APP/bench" "$APP/test"
    cp -r bin scripts package.json "$APP/"
    cp bench/*.py "$APP/bench/"
    cp -r test/golden "$APP/test/"
    node_from="kit ($(basename "$node_tar"))"
    kit_hash=$(grep -o '"sources_hash": "[0-9a-f]*"' "$KIT/manifest.json" | cut -d'"' -f4)
    [ "$kit_hash" = "$(sources_hash)" ] ||
      warn "the kit's dist/ was compiled from other sources than this checkout's (re-run scripts/gpu-pack.sh): the checks run the kit's code"
  fi
elif have node && [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 20 ]; then
  if [ -f dist/src/engine/index.js ] && [ -d node_modules/node-addon-api ]; then
    NODE=$(command -v node)
    APP=$ROOT
    for d in "$(dirname "$(dirname "$(readlink -f "$NODE")")")/include/node" /usr/include/node /usr/local/include/node; do
      [ -f "$d/node_api.h" ] && NODE_INC=$d && break
    done
    node_from="system ($NODE)"
    [ -z "$(find src bench test/helpers/golden-ops.ts -name '*.ts' -newer dist/src/index.js 2>/dev/null | head -1)" ] ||
      warn "dist/ is older than some sources (npm run build): the checks run dist/ as it is"
  else
    node_reason="no .gpu-kit and no dist/ or node_modules/ here: run scripts/gpu-pack.sh (or npm run setup)"
  fi
else
  node_reason="no .gpu-kit and no Node >= 20 on PATH: run scripts/gpu-pack.sh where the npm registry is reachable and bring .gpu-kit along"
fi
secs=$(awk -v ms=$(($(now_ms) - t)) 'BEGIN { printf "%.1f", ms / 1000 }')
if [ -n "$NODE" ] && v=$("$NODE" --version 2>>"$LOG"); then
  info node "$(json_str "$v from $node_from")"
  record node ok "$secs" "Node $v from $node_from"
else
  NODE=""
  record node failed "$secs" "${node_reason:-the Node found does not run}"
fi

# ---------------------------------------------------------------------------
# build: the addon against the PyTorch's libtorch, with the compiler directly (no node-gyp)

ADDON=""
CUDA_BUILD=0
if [ -z "$NODE" ]; then
  skip build "needs Node"
else
  CXX_BIN=""
  for c in ${CXX:-} g++ c++ clang++; do have "$c" && CXX_BIN=$c && break; done
  lt_note=""
  if [ -n "$TORCH_DIR" ] && [ -d "$TORCH_DIR/include/torch" ]; then
    export LIBTORCH=$TORCH_DIR
    lt_note="libtorch of $PY ($TORCH_DIR)"
  else
    unset LIBTORCH
    lt_note="the default libtorch of scripts/torch-config.mjs (${TORCH_DIR:-no python torch} has no C++ headers, as Debian's python3-torch)"
  fi
  if [ -z "$CXX_BIN" ]; then
    skip build "no C++ compiler (g++, c++ or clang++; or set CXX): the addon cannot be built, nothing that needs it runs"
  elif [ -z "$NODE_INC" ]; then
    record build failed 0 "no Node headers (node_api.h): the kit has them; a system Node needs its include/node"
  else
    # PYTHON: torch-config.mjs asks torch.compiled_with_cxx11_abi() when the CMake config does not say.
    export PYTHON=${PY:-python3}
    tc() { "$NODE" "$APP/scripts/torch-config.mjs" "$1"; }
    if ! flags_ok=$(tc cflags 2>&1) || ! inc=$(tc include 2>&1) || ! libs=$(tc libs 2>&1) || ! CUDA_BUILD=$(tc cuda 2>&1); then
      record build failed 0 "torch-config.mjs: $flags_ok $inc $libs" "\"libtorch\": $(json_str "$lt_note")"
      CUDA_BUILD=0
    else
      mkdir -p "$WORK/build"
      incs=()
      for d in $inc; do incs+=("-I$d"); done
      # What binding.gyp gives node-gyp, spelled out: the same defines, warnings and flags.
      # shellcheck disable=SC2086 # flags_ok and libs are lists of flags
      run build 400 "$CXX_BIN" -O2 -fPIC -shared -pthread -fexceptions -frtti $flags_ok \
        -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS "-DECLIPSE_CUDA=$CUDA_BUILD" -DBUILDING_NODE_EXTENSION \
        -Wno-unused-parameter -Wno-deprecated-declarations \
        "-I$APP/node_modules/node-addon-api" "-I$NODE_INC" "${incs[@]}" \
        native/engine.cc -o "$WORK/build/eclipse_native.node" $libs
      extra="\"libtorch\": $(json_str "$lt_note"), \"torch_config\": $(tc json | tr -d '\n' | tr -s ' '), \"compiler\": $(json_str "$("$CXX_BIN" --version | head -1)")"
      if [ "$RC" -eq 0 ]; then
        ADDON=$WORK/build/eclipse_native.node
        export ECLIPSE_NATIVE=$ADDON
        record build ok "$SECS" "built against $lt_note ($flags_ok, CUDA $([ "$CUDA_BUILD" = 1 ] && echo yes || echo no))" "$extra"
      else
        record build failed "$SECS" "compiler exit $RC: $(tail_of build 6)" "$extra"
      fi
    fi
  fi
fi

# ---------------------------------------------------------------------------
# load: check-engine.mjs loads the addon and runs an op on every device

LOADED=0
if [ -z "$ADDON" ]; then
  skip load "needs the addon (build)"
elif fits load 20; then
  run load 120 "$NODE" "$APP/scripts/check-engine.mjs"
  if [ "$RC" -eq 0 ]; then
    LOADED=1
    record load ok "$SECS" "$(tail_of load 1 | sed 's/^setup: //')"
  else
    record load failed "$SECS" "$(tail_of load 3)"
  fi
fi
# cuda checks need a GPU, and an addon built with CUDA
CUDA_WHY=""
if [ "$HAVE_GPU" != 1 ]; then
  CUDA_WHY="no GPU: PyTorch sees no CUDA device"
elif [ "$CUDA_BUILD" != 1 ]; then
  CUDA_WHY="the addon was built against a CPU-only libtorch"
fi
[ -n "$CUDA_WHY" ] && [ "$HAVE_GPU" = 1 ] && [ "$LOADED" = 1 ] && warn "a GPU is present but $CUDA_WHY: the cuda checks are skipped"

# ---------------------------------------------------------------------------
# ops: the goldens on cpu, and on cuda against cpu

if [ "$LOADED" != 1 ]; then
  skip ops_cpu "needs a loadable addon"
  skip ops_cuda "needs a loadable addon"
elif fits ops_cpu 30; then
  # TF32 off in cuBLAS and cuDNN: the comparison is then of float32 arithmetic.
  run ops 240 env NVIDIA_TF32_OVERRIDE=0 "$NODE" "$APP/scripts/gpu-ops.mjs" --out "$OUT/gpu-ops.json"
  if [ ! -s "$OUT/gpu-ops.json" ]; then
    record ops_cpu failed "$SECS" "gpu-ops.mjs wrote no result (exit $RC): $(tail_of ops 3)"
    skip ops_cuda "gpu-ops.mjs did not finish"
  else
    for dev in cpu cuda; do
      st=$(jq_node "$OUT/gpu-ops.json" "j.devices.$dev?.status ?? 'missing'")
      d="j.devices.$dev"
      case $st in
        skipped) skip "ops_$dev" "$CUDA_WHY${CUDA_WHY:+; }$(jq_node "$OUT/gpu-ops.json" "$d.reason")" ;;
        ok | failed)
          summary=$(jq_node "$OUT/gpu-ops.json" "\`\${$d.passed}/\${$d.cases} cases close\${'$dev' === 'cuda' ? ' to the goldens and to cpu' : ' to the goldens'}; max abs error \${$d.max_abs_err} (\${$d.worst})\`")
          nums=$(jq_node "$OUT/gpu-ops.json" "({cases: $d.cases, passed: $d.passed, failed: $d.failed, max_abs_err: $d.max_abs_err, max_rel_err: $d.max_rel_err, within_cpu_tolerance: $d.within_cpu_tolerance, tf32: '$dev' === 'cuda' ? j.tf32 : undefined})" | sed 's/^{//; s/}$//')
          secs_dev=$(jq_node "$OUT/gpu-ops.json" "$d.seconds")
          record "ops_$dev" "$st" "${secs_dev:-$SECS}" "$summary" "$nums"
          ;;
        *) record "ops_$dev" failed "$SECS" "no $dev result in gpu-ops.json (exit $RC): $(tail_of ops 3)" ;;
      esac
    done
  fi
fi

# ---------------------------------------------------------------------------
# data: CIFAR-10 where it is found, else a synthetic set in its binary layout

DATA=""
synth() { # synth DIR: 250 training and 200 test records, random pixels, labels 0..9 in turn
  "$NODE" -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    fs.mkdirSync(dir, { recursive: true });
    let s = 12345; // xorshift32: the same bytes on every run
    const byte = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0) & 255);
    const files = {};
    const write = (name, n) => {
      const b = Buffer.alloc(n * 3073);
      for (let i = 0; i < n; i++) {
        b[i * 3073] = i % 10;
        for (let k = 1; k < 3073; k++) b[i * 3073 + k] = byte();
      }
      fs.writeFileSync(path.join(dir, name), b);
      files[name] = n;
    };
    for (let k = 1; k <= 5; k++) write(`data_batch_${k}.bin`, 50);
    write("test_batch.bin", 200);
    fs.writeFileSync(path.join(dir, "batches.meta.txt"), "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n");
    // The official files hold 10,000 records each; this manifest (the format eclipse data export
    // writes) tells the importer how many these hold.
    fs.writeFileSync(path.join(dir, "eclipse-cifar.json"), JSON.stringify({ format: "eclipse-cifar-binary-v1", files }));
  ' "$1"
}
if [ "$LOADED" != 1 ]; then
  skip data "needs a loadable addon"
elif fits data 30; then
  src="" kind=""
  if [ "${GPU_CHECK_SYNTHETIC:-0}" != 1 ]; then
    for c in "${ECLIPSE_CIFAR10:-}" "$ROOT/shared/datasets/cifar-10-binary.tar.gz" "$ROOT/../shared/datasets/cifar-10-binary.tar.gz"; do
      [ -n "$c" ] && [ -e "$c" ] && src=$c && kind="CIFAR-10 ($c)" && break
    done
  fi
  if [ -z "$src" ]; then
    src=$WORK/cifar-synthetic
    kind="synthetic: 250 train + 200 test random images in the CIFAR-10 binary layout (no CIFAR-10 found$([ "${GPU_CHECK_SYNTHETIC:-0}" = 1 ] && echo ', or GPU_CHECK_SYNTHETIC=1'))"
    synth "$src" >>"$LOG" 2>&1
  fi
  run data 180 "$NODE" "$APP/bin/eclipse.js" data import --profile smoke --source "$src" --sparse-per-class 4 --out "$WORK/data" --device cpu
  if [ "$RC" -eq 0 ] && [ -f "$WORK/data/train.safetensors" ]; then
    DATA=$WORK/data
    record data ok "$SECS" "$kind; smoke split: 20/class train, 10/class test, 4/class pool"
  else
    record data failed "$SECS" "eclipse data import (exit $RC) from $kind: $(tail_of data 3)"
  fi
fi

# ---------------------------------------------------------------------------
# defend: the whole smoke-profile defence on one device

defend() { # defend DEVICE
  local name=defend_$1 dir=$WORK/defend-$1
  run "$name" 300 "$NODE" "$APP/bin/eclipse.js" defend --profile smoke --device "$1" \
    --train "$DATA/train.safetensors" --test "$DATA/test.safetensors" --pool "$DATA/sparse-pool.safetensors" --out "$dir"
  local result=$dir/classifier-seed0/result.json
  if [ "$RC" -ne 0 ] || [ ! -f "$result" ]; then
    record "$name" failed "$SECS" "eclipse defend --device $1 (exit $RC): $(tail_of "$name" 3)"
  elif ! grep -q "($1" "$WORK/logs/$name.log"; then
    # every stage names its device in its progress line, e.g. "... on 40 images (cuda)"
    record "$name" failed "$SECS" "eclipse defend finished but its stages do not say they ran on $1"
  else
    local acc
    acc=$(jq_node "$result" "j.testAcc")
    record "$name" ok "$SECS" "denoiser, purification and classifier ran on $1; test accuracy $acc (smoke scale: meaningless)" "\"test_acc\": ${acc:-null}"
  fi
}
if [ -z "$DATA" ]; then
  skip defend_cuda "needs the data step"
  skip defend_cpu "needs the data step"
elif [ -n "$CUDA_WHY" ]; then
  skip defend_cuda "$CUDA_WHY"
  fits defend_cpu 60 && defend cpu
else
  fits defend_cuda 60 && defend cuda
  skip defend_cpu "a GPU is present: defend_cuda runs the same pipeline"
fi

# ---------------------------------------------------------------------------
# benchmarks: eclipse and PyTorch on cuda, same shapes, same run

bench() { # bench NAME LIMIT OUTFILE ARGS...
  local name=$1 limit=$2 file=$3
  shift 3
  run "$name" "$limit" env ECLIPSE_PYTHON="$PY" "$NODE" "$APP/dist/bench/index.js" "$@" --out "$file"
  if [ "$RC" -ne 0 ] || [ ! -s "$file" ]; then
    record "$name" failed "$SECS" "npm run bench -- $* (exit $RC): $(tail_of "$name" 3)"
    return
  fi
  # config -> ours img/s, PyTorch img/s, ratio
  local figures
  figures=$(jq_node "$file" "Object.fromEntries(Object.entries(j).filter(([, v]) => v && v.ours_img_s !== undefined).map(([k, v]) => [k, { ours: v.ours_img_s, pytorch: v.pytorch_img_s, ratio: v.ratio, ...(v.pytorch_cl_img_s !== undefined ? { pytorch_cl: v.pytorch_cl_img_s, ratio_cl: v.ratio_cl } : {}) }]))")
  local line
  line=$(jq_node "$file" "Object.entries(j).filter(([, v]) => v && v.ours_img_s !== undefined).map(([k, v]) => k + ' ' + v.ratio).join(', ')")
  record "$name" ok "$SECS" "ours/PyTorch img/s ratio: $line" "\"results\": ${figures:-null}, \"file\": \"$(basename "$file")\""
}
if [ "$LOADED" != 1 ] || [ -z "$PY" ]; then
  why="needs a loadable addon and a python with torch"
  skip bench_engine_cuda "$why"
  skip bench_diffusion_cuda "$why"
elif ! "$NODE" "$APP/dist/bench/index.js" help 2>/dev/null | grep -q -- '--device cpu|cuda'; then
  # an older dist/ would ignore --device and --out, and write into bench/results/
  why="this dist/bench has no --device option (npm run build)"
  skip bench_engine_cuda "$why"
  skip bench_diffusion_cuda "$why"
elif [ -n "$CUDA_WHY" ]; then
  skip bench_engine_cuda "$CUDA_WHY"
  skip bench_diffusion_cuda "$CUDA_WHY"
  # No GPU: one short round of each benchmark on the cpu, to check the harness and the peer.
  if fits bench_harness_cpu 60; then
    run bench_harness_cpu 150 env ECLIPSE_PYTHON="$PY" bash -c '"$1" "$2" engine --configs w8:forward --batch 16 --rounds 1 --warmup 1 --round-seconds 0.2 --retries 0 --max-wait 0 --out "$3/engine.json" &&
      "$1" "$2" diffusion --configs unet_mini_b32_train --rounds 1 --steps 1 --out "$3/diffusion.json"' _ "$NODE" "$APP/dist/bench/index.js" "$WORK"
    if [ "$RC" -eq 0 ]; then
      record bench_harness_cpu ok "$SECS" "engine w8 forward and diffusion mini train, one round each on the cpu: harness and PyTorch peer ($PY) work"
    else
      record bench_harness_cpu failed "$SECS" "benchmark harness on the cpu (exit $RC): $(tail_of bench_harness_cpu 3)"
    fi
  fi
else
  fits bench_engine_cuda 90 && bench bench_engine_cuda 240 "$OUT/bench-engine-cuda.json" engine --device cuda --quick --configs w64 w16
  fits bench_diffusion_cuda 60 && bench bench_diffusion_cuda 180 "$OUT/bench-diffusion-cuda.json" diffusion --device cuda --quick
fi

# ---------------------------------------------------------------------------
# summary

write_json true
echo "gpu-check: $N_OK ok, $N_FAILED failed, $N_SKIPPED skipped${SKIPPED_LIST:+ (skipped: $SKIPPED_LIST)}; $(($(date +%s) - T0))s; results in $OUT/gpu-check.json" >&2
if [ "$N_FAILED" -eq 0 ]; then exit 0; else exit 1; fi
