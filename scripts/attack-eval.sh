#!/usr/bin/env bash
# The per-attack results table of docs/results.md (issue 9), one attack at a time, resumable:
#   scripts/attack-eval.sh ATTACK [none|comp|eclipse|all] [extra eclipse poison flags...]
# Generates the mini poison (seed 0) if missing, then trains the victims with the demo's
# classifier recipe (mini, batch 64), seeds 0 and 1: without defence (eclipse train), with the
# compensation module only (eclipse defend --no-purify) and with ECLIPSE (eclipse defend, its
# mini defaults). Every step is cached: a finished run is skipped, an interrupted one resumes.
# The denoiser does not depend on the poison: when runs/attacks-mini/denoiser-cache holds a
# finished one, it is copied in instead of being trained again.
set -euo pipefail
cd "$(dirname "$0")/.."
attack=${1:?usage: scripts/attack-eval.sh ATTACK [none|comp|eclipse|all] [poison flags]}
what=${2:-all}
shift $(( $# >= 2 ? 2 : 1 ))
export ECLIPSE_QUIET_NODE_WARNING=1
eclipse() { node bin/eclipse.js "$@" --threads "${ECLIPSE_THREADS:-2}"; }
data=data/cifar10-mini
poison=$data/poison-$attack-s0.safetensors
out=runs/attacks-mini/$attack
mkdir -p "$out"
stamp() { date -u +%FT%TZ; }

if [ ! -f "$poison" ]; then
  echo "[$(stamp)] $attack: generating $poison"
  start=$(date +%s)
  eclipse poison --attack "$attack" --profile mini --seed 0 --out "$poison" "$@" > "$out/poison.txt"
  echo "generation_seconds $(( $(date +%s) - start ))" >> "$out/poison.txt"
fi

victim() { # seed
  local dir=$out/none-s$1
  [ -f "$dir/result.json" ] && return 0
  echo "[$(stamp)] $attack: no defence, seed $1"
  eclipse train --profile mini --batch-size 64 --seed "$1" --train "$poison" --test $data/test.safetensors --out "$dir" --resume --quiet
}
comp() { # seed
  [ -f "$out/comp/classifier-seed$1/result.json" ] && return 0
  echo "[$(stamp)] $attack: compensation only, seed $1"
  eclipse defend --profile mini --batch-size 64 --train "$poison" --no-purify --classifier-seed "$1" --out "$out/comp" --quiet
}
full() { # seed
  [ -f "$out/eclipse/classifier-seed$1/result.json" ] && return 0
  local cache=runs/attacks-mini/denoiser-cache
  if [ ! -f "$out/eclipse/.stage-denoiser.json" ] && [ -f "$cache/.stage-denoiser.json" ]; then
    mkdir -p "$out/eclipse" && cp -r "$cache/denoiser" "$cache/sparse-set.safetensors" "$cache/.stage-denoiser.json" "$out/eclipse/"
  fi
  echo "[$(stamp)] $attack: ECLIPSE, seed $1"
  eclipse defend --profile mini --batch-size 64 --train "$poison" --classifier-seed "$1" --out "$out/eclipse" --quiet
  if [ ! -f "$cache/.stage-denoiser.json" ]; then
    mkdir -p "$cache" && cp -r "$out/eclipse/denoiser" "$out/eclipse/sparse-set.safetensors" "$out/eclipse/.stage-denoiser.json" "$cache/"
  fi
}
case $what in
  none) victim 0; victim 1 ;;
  comp) comp 0; comp 1 ;;
  eclipse) full 0; full 1 ;;
  all) victim 0; victim 1; comp 0; comp 1; full 0; full 1 ;;
  *) echo "unknown stage $what (none|comp|eclipse|all)" >&2; exit 2 ;;
esac
echo "[$(stamp)] $attack: $what done"
