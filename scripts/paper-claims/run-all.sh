#!/bin/sh
# Every run and measurement of docs/paper-claims.md, in two slots (one torch thread each on a 2-core machine), then
# the measurements in the order that gives the most telling results first; a step that fails leaves the next ones
# to run. Resumable: each step skips what is done (train.ts resumes from the last checkpoint, evaluate.ts from its
# results file), so run it again after an interruption. CLAIMS_RUNS (default /work/claims-runs) holds the states;
# the training images are exported once into $CLAIMS_RUNS/data.
#   sh scripts/paper-claims/run-all.sh
cd "$(dirname "$0")/../.."
RUNS="${CLAIMS_RUNS:-/work/claims-runs}"
export IDDPM_WORKERS="${IDDPM_WORKERS:-2}"
[ -d "$RUNS/data" ] || node --import tsx scripts/reference/export-dataset.ts --kind mnist --split train --size 32 --channels 1 --out "$RUNS/data"
train() { for r in "$@"; do node --import tsx scripts/paper-claims/train.ts --reference "$r"; done; }
measure() { nice -n 15 node --import tsx scripts/paper-claims/evaluate.ts "$@"; }
train cosine linear lambda-0.01 cosine-2 &
train fixed lambda-0 hybrid-importance &
wait
measure --claim a --no-full --only fid --method ancestral --model cosine
measure --claim a --no-full --only fid --method ancestral --model fixed
measure --claim a --only bpd --model cosine
measure --claim a --only bpd --model fixed
measure --claim d --no-full
measure --claim b --no-full
measure --claim c --no-full
measure --claim replicate
measure --claim a --no-full
train kl-uniform &
train kl-importance &
wait
measure --claim c
measure --claim a
node --import tsx scripts/paper-claims/report.ts
