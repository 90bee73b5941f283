#!/usr/bin/env bash
# What a model-based attack's cheap mini settings cost in potency (issue 9): on a 1,000-image
# CIFAR-10 subset (100 per class, 1,000 test images), the attack at its mini settings and at
# the given fuller settings, each followed by the demo's victim (mini recipe, batch 64, seeds 0
# and 1), beside the clean subset. Resumable like attack-eval.sh (finished runs are skipped).
#   scripts/attack-cost.sh ATTACK NAME [eclipse poison flags of the fuller setting...]
# e.g. scripts/attack-cost.sh em paper --profile paper --poison-batch 500
set -euo pipefail
cd "$(dirname "$0")/.."
attack=${1:?usage: scripts/attack-cost.sh ATTACK NAME [poison flags]}
name=${2:?name of the fuller setting, e.g. paper}
shift 2
export ECLIPSE_QUIET_NODE_WARNING=1
eclipse() { node bin/eclipse.js "$@" --threads "${ECLIPSE_THREADS:-2}"; }
data=data/cifar10-sub1k
out=runs/attack-cost
mkdir -p "$out"
[ -f $data/train.safetensors ] || eclipse data import --profile mini --train-per-class 100 --test-per-class 100 --out $data

poison() { # setting-name flags...
  local file=$data/poison-$attack-$1.safetensors; local label=$1; shift
  if [ ! -f "$file" ]; then
    local start; start=$(date +%s)
    eclipse poison --attack "$attack" --seed 0 --in $data/train.safetensors --out "$file" "$@" > "$out/$attack-$label-poison.txt"
    echo "generation_seconds $(( $(date +%s) - start ))" >> "$out/$attack-$label-poison.txt"
  fi
  echo "$file"
}
victim() { # train-file run-name seed
  [ -f "$out/$2-s$3/result.json" ] && return 0
  eclipse train --profile mini --batch-size 64 --seed "$3" --train "$1" --test $data/test.safetensors --out "$out/$2-s$3" --resume --quiet
}
for s in 0 1; do victim $data/train.safetensors clean "$s"; done
mini=$(poison mini --profile mini)
for s in 0 1; do victim "$mini" "$attack-mini" "$s"; done
full=$(poison "$name" "$@")
for s in 0 1; do victim "$full" "$attack-$name" "$s"; done
for r in clean "$attack-mini" "$attack-$name"; do
  printf '%s' "$r"; for s in 0 1; do node -e "process.stdout.write(' ' + (100 * require('./$out/$r-s$s/result.json').testAcc).toFixed(2))"; done; echo
done
