#!/usr/bin/env bash
# The shipped mini matrix (configs/mini-matrix.json: issue 10's cells and issue 28's seeds), in resumable parts:
#   scripts/matrix-mini.sh [--only "WORDS"] [other eclipse matrix run flags]
#   ECLIPSE_MATRIX_CONFIG=configs/mini-sensitivity.json scripts/matrix-mini.sh   # issue 25's study,
#     same database (its sweeps share the main cells), same CSV and report
# Runs the matrix on Node 24 (node:sqlite), then exports the results to docs/results/ (the CSV is
# committed; `eclipse matrix merge` rebuilds a database from it on another machine) and writes
# the report and its screenshot there. Given poisons that are missing (a fresh clone) are made
# first, one at a time, each followed by its cells. Stop it any time (Ctrl-C); re-running resumes.
set -euo pipefail
cd "$(dirname "$0")/.."
config="${ECLIPSE_MATRIX_CONFIG:-configs/mini-matrix.json}"
db=runs/matrix-mini/results.sqlite
art=runs/matrix-mini/artifacts
node24="$(npx --yes -p node@24 -c 'node -p process.execPath')"
export ECLIPSE_QUIET_NODE_WARNING=1
eclipse() { "$node24" bin/eclipse.js "$@"; }
mkdir -p runs/matrix-mini docs/results
# A database rebuilt from the committed CSV on a fresh machine (finished cells are not rerun).
if [ ! -f "$db" ] && [ -f docs/results/mini-matrix.csv ]; then eclipse matrix merge docs/results/mini-matrix.csv --db "$db"; fi
run() { eclipse matrix run "$config" --db "$db" --artifacts "$art" --threads "${ECLIPSE_THREADS:-2}" "$@"; }
status=0
run "$@" || status=$?
# The config's given poisons that this machine lacks (a fresh clone's case): the issue-28 seeds
# first (six cells each: most cells per minute of generation), then seed 0 (the issue-9 ones,
# whose older cells are merged from the CSV), each seed in the config's attack order. Each is made
# as issue 9 made it, with its seed, then its cells run. Exit 130 is a Ctrl-C stop: end there.
mapfile -t given < <("$node24" -e '
  const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const rows = Object.entries(c.poisons ?? {}).flatMap(([a, f]) => Object.entries(typeof f === "string" ? { 0: f } : f).map(([s, p]) => [Number(s), a, require("path").resolve("configs", p)]));
  rows.sort((x, y) => (x[0] === 0) - (y[0] === 0) || x[0] - y[0]);
  for (const [s, a, p] of rows) console.log(a, s, p);' "$config")
for entry in "${given[@]}"; do
  [ "$status" -eq 130 ] && break
  read -r attack seed file <<< "$entry"
  [ -f "$file" ] && continue
  # A poison whose cells have all finished (their results merged from the CSV) is not remade.
  words="$attack poison seed $seed"
  if ! run --dry-run --only "$words" | grep -Eq ' (pending|running|stopped|failed) '; then
    echo "matrix-mini: every $attack cell of poison seed $seed has finished; not remaking its poison" >&2
    continue
  fi
  echo "matrix-mini: making the $attack poison $file (eclipse poison --attack $attack --profile mini --seed $seed)" >&2
  eclipse poison --attack "$attack" --profile mini --seed "$seed" --out "$file" --threads "${ECLIPSE_THREADS:-2}" || { status=$?; break; }
  # a run leaving out cells on a poison not made yet exits 1: the last run's status is the one that counts
  status=0
  run "$@" || status=$?
  # commit-ready after every poison: the CSV as it stands
  eclipse matrix export --db "$db" --out docs/results/mini-matrix.csv --overwrite
done
eclipse matrix export --db "$db" --out docs/results/mini-matrix.csv --overwrite
# The committed report leaves out the CIFAR-10 image figures (dataset images are never committed);
# `eclipse report` without --no-images draws them locally.
eclipse report --db "$db" --artifacts "$art" --out docs/results/mini-matrix --no-images --quiet
node scripts/report-screenshot.mjs docs/results/mini-matrix/report.html docs/results/mini-matrix/screenshot.png || echo "no screenshot (Chromium missing?)" >&2
exit "$status"
