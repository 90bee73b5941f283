#!/usr/bin/env bash
# The shipped mini matrix (configs/mini-matrix.json: issue 10's cells and issue 28's seeds), in resumable parts:
#   scripts/matrix-mini.sh [--only "WORDS"] [other eclipse matrix run flags]
#   ECLIPSE_MATRIX_CONFIG=configs/mini-sensitivity.json scripts/matrix-mini.sh   # issue 25's study,
#     same database (its sweeps share the main cells), same CSV and report
# Runs the matrix on Node 24 (node:sqlite), then exports the results to docs/results/ (the CSV is
# committed; `eclipse matrix merge` rebuilds a database from it on another machine) and writes
# the report and its screenshot there. A given poison that is missing (a fresh clone) is made
# when the first unfinished cell on it comes up (--make-poisons: as `eclipse poison --attack A
# --profile mini --seed S` makes it); one whose cells have all finished is not remade. Stop it any
# time (Ctrl-C); re-running resumes.
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
run --make-poisons "$@" || status=$?
eclipse matrix export --db "$db" --out docs/results/mini-matrix.csv --overwrite
# The committed report leaves out the CIFAR-10 image figures (dataset images are never committed);
# `eclipse report` without --no-images draws them locally.
eclipse report --db "$db" --artifacts "$art" --out docs/results/mini-matrix --no-images --quiet
node scripts/report-screenshot.mjs docs/results/mini-matrix/report.html docs/results/mini-matrix/screenshot.png || echo "no screenshot (Chromium missing?)" >&2
exit "$status"
