#!/usr/bin/env bash
# What a baseline defence's cheap mini settings cost (issue 10): on the 1,000-image CIFAR-10
# subset of scripts/attack-cost.sh (100 per class, 1,000 test images) poisoned by EM at its mini
# settings, the victim (mini recipe, batch 64, seeds 0 and 1) trained with the defence at its
# mini settings and at the given fuller settings. Run scripts/attack-cost.sh em ... first (it
# makes the subset and the poison). Resumable: finished runs are skipped.
#   scripts/defense-cost.sh DEFENSE NAME [eclipse train flags of the fuller setting...]
# e.g. scripts/defense-cost.sh at paper --at-steps 10 --at-step-size 0.00784313725490196
set -euo pipefail
cd "$(dirname "$0")/.."
defense=${1:?usage: scripts/defense-cost.sh DEFENSE NAME [train flags]}
name=${2:?name of the fuller setting, e.g. paper}
shift 2
export ECLIPSE_QUIET_NODE_WARNING=1
data=data/cifar10-sub1k
poison=$data/poison-em-mini.safetensors
out=runs/defense-cost
[ -f "$poison" ] || { echo "no $poison: run scripts/attack-cost.sh em ... first" >&2; exit 2; }
mkdir -p "$out"
victim() { # run-name seed flags...
  local run=$1 seed=$2; shift 2
  [ -f "$out/$run-s$seed/result.json" ] && return 0
  local start; start=$(date +%s)
  node bin/eclipse.js train --profile mini --batch-size 64 --seed "$seed" --train "$poison" --test $data/test.safetensors \
    --defense "$defense" --out "$out/$run-s$seed" --resume --quiet --threads "${ECLIPSE_THREADS:-2}" "$@"
  echo "$(( $(date +%s) - start ))" > "$out/$run-s$seed/seconds.txt"
}
for s in 0 1; do victim "$defense-mini" "$s"; done
for s in 0 1; do victim "$defense-$name" "$s" "$@"; done
for r in "$defense-mini" "$defense-$name"; do
  printf '%s' "$r"
  for s in 0 1; do printf ' %s (%ss)' "$(node -p "(100 * require('./$out/$r-s$s/result.json').testAcc).toFixed(2)")" "$(cat $out/$r-s$s/seconds.txt)"; done
  echo
done
