#!/bin/sh
# Every run and measurement of docs/paper-claims.md, one at a time, niced, in the order that gives the most telling
# results first; a step that fails leaves the next ones to run. Resumable: each step skips what is done (train.ts
# resumes from the last checkpoint, evaluate.ts from its results file), so run it again after an interruption.
# CLAIMS_RUNS (default /work/claims-runs) holds the states.
#   sh scripts/paper-claims/run-all.sh
cd "$(dirname "$0")/../.."
export IDDPM_WORKERS="${IDDPM_WORKERS:-2}"
train() { nice -n 15 node --import tsx scripts/paper-claims/train.ts "$@"; }
measure() { nice -n 15 node --import tsx scripts/paper-claims/evaluate.ts "$@"; }
measure --claim a --no-full --model demo
train --reference fixed
measure --claim a --no-full
node --import tsx scripts/paper-claims/report.ts
train --reference kl-uniform
train --reference kl-importance
measure --claim c
node --import tsx scripts/paper-claims/report.ts
train --run lambda-0
train --run lambda-0.001
train --run lambda-0.01
measure --claim d
node --import tsx scripts/paper-claims/report.ts
train --reference linear
measure --claim b --no-full
measure --claim a,b
node --import tsx scripts/paper-claims/report.ts
