#!/usr/bin/env bash
# The whole test suite: set-up, type check, format and lint check, then every
# test (unit, datastore, end-to-end, fault) against real servers. The last line
# counts passed/failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || { echo "tests: 0 passed, 1 failed (set-up failed)"; exit 1; }

mkdir -p test-results
typecheck=0
npx tsc -p tsconfig.json --noEmit || typecheck=1
# Formatting and lint rules (biome.jsonc): style does not depend on memory.
lint=0
npx biome ci . --colors=off || lint=1

npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json "$@"
status=$?
node scripts/summarize-tests.mjs test-results/vitest.json "$typecheck" "$lint"
summary=$?
[ $status -eq 0 ] && [ $typecheck -eq 0 ] && [ $lint -eq 0 ] && [ $summary -eq 0 ]
