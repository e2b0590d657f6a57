#!/bin/sh
# The bridge's whole loop, on a machine with PyTorch, MPI and the reference code (openai/improved-diffusion):
#   1. export a pipeline as a recipe (flags for image_train.py, the dataset as PNGs)
#   2. train a few steps with the reference (mpiexec … image_train.py)
#   3. import its checkpoint triple (weights, EMA, Adam state) as a model
#   4. sample it over HTTP (Node-RED with the demo flow's GET /iddpm/sample)
#   5. train it further here from the reference's Adam state, export that state, resume with the reference, and
#      import the result again
# Not part of CI (it needs torch). Usage, from anywhere:
#   IDDPM_REF=/path/to/improved-diffusion sh scripts/reference/round-trip.sh [WORK_DIR]
# Environment: PYTHON (default python3), MPIEXEC (default mpiexec; as root "mpiexec --allow-run-as-root"),
# PORT (Node-RED's, default 18803), STEPS (the reference's save interval = steps per run, default 5).
set -eu
: "${IDDPM_REF:?set IDDPM_REF to the improved-diffusion checkout (the folder holding scripts/ and improved_diffusion/)}"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${1:-$(mktemp -d /tmp/iddpm-round-trip.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
PYTHON=${PYTHON:-python3}
PORT=${PORT:-18803}
STEPS=${STEPS:-5}
export PYTHON
if [ "$(id -u)" = 0 ]; then MPIEXEC=${MPIEXEC:-mpiexec --allow-run-as-root}; else MPIEXEC=${MPIEXEC:-mpiexec}; fi
export MPIEXEC
cd "$ROOT"
step() { printf '\n== %s\n' "$*"; }
pad() { printf '%06d' "$1"; }
T0=$(date +%s)

# The reference imports blobfile (its setup.py installs it); a machine without it gets the local-path part.
if ! "$PYTHON" -c 'import blobfile' 2>/dev/null; then
  mkdir -p "$WORK/pyshim"
  cat > "$WORK/pyshim/blobfile.py" <<'EOF'
"""The part of blobfile the reference calls, for local paths (written by node-red-iddpm's round-trip.sh)."""
import os
BlobFile = open
basename, dirname, exists, isdir, join, listdir = os.path.basename, os.path.dirname, os.path.exists, os.path.isdir, os.path.join, os.listdir
EOF
  export PYTHONPATH="$WORK/pyshim${PYTHONPATH:+:$PYTHONPATH}"
fi

step "1. export: a 32 px RGB pipeline that image_train.py can express, 64 MNIST digits as its data"
cat > "$WORK/pipeline.json" <<'EOF'
{
  "schedule": { "kind": "cosine", "steps": 100 },
  "noiser": { "modelMeanType": "epsilon" },
  "unet": { "model": "rt", "preset": "custom", "modelVarType": "learned_range", "numClasses": null,
            "config": { "imageSize": 32, "inChannels": 3, "modelChannels": 32, "channelMult": [1, 2, 2, 2], "numResBlocks": 1,
                        "attentionResolutions": [16], "numHeads": 4, "dropout": 0, "useScaleShiftNorm": true } },
  "loss": { "kind": "hybrid", "lambda": 0.001 },
  "timesteps": { "kind": "uniform" }
}
EOF
printf '{ "dataset": { "kind": "mnist", "limit": 64 }, "batchSize": 4, "lr": 1e-4, "emaRate": 0.9999, "checkpointEvery": %s, "logEvery": 1 }\n' "$STEPS" > "$WORK/options.json"
rm -rf "$WORK/recipe"
npm run -s export-recipe -- --pipeline "$WORK/pipeline.json" --options "$WORK/options.json" --out "$WORK/recipe" --respacing 20
cat "$WORK/recipe/flags.txt"

step "2. train with the reference: $MPIEXEC -n 1 … image_train.py (DIFFUSION_TRAINING_TEST=1: it returns after the save at step $STEPS)"
T=$(date +%s)
DIFFUSION_TRAINING_TEST=1 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE sh "$WORK/recipe/train.sh" > "$WORK/recipe-train.log" 2>&1 || { tail -30 "$WORK/recipe-train.log"; exit 1; }
grep -E '^\| (loss|step) ' "$WORK/recipe-train.log" | tail -2
echo "reference training: $(( $(date +%s) - T )) s; run/: $(ls "$WORK/recipe/run" | grep '\.pt$' | tr '\n' ' ')"
S=$(pad "$STEPS")

step "3. import the checkpoint triple into a Node-RED models folder"
NR="$WORK/node-red"
npm run -s import-reference -- --recipe "$WORK/recipe" --file "run/model$S.pt" --ema "run/ema_0.9999_$S.pt" --opt "run/opt$S.pt" \
  --name rt-reference --models-dir "$NR/iddpm/models" --overwrite

step "4. sample it over HTTP: Node-RED with the demo flow (GET /iddpm/sample)"
npm run -s build
PORT=$PORT IDDPM_USER_DIR="$NR" node scripts/start.js > "$WORK/node-red.log" 2>&1 &
NODE_RED=$!
trap 'kill $NODE_RED 2>/dev/null || true' EXIT INT TERM
i=0
until curl -fsS -o /dev/null "http://localhost:$PORT/" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 180 ] || { tail -20 "$WORK/node-red.log"; exit 1; }; sleep 1
done
T=$(date +%s)
curl -fsS -o "$WORK/rt-reference.png" "http://localhost:$PORT/iddpm/sample?model=rt-reference&count=16&steps=20&seed=1"
echo "GET /iddpm/sample?model=rt-reference&count=16&steps=20&seed=1 → $(wc -c < "$WORK/rt-reference.png") bytes of PNG in $(( $(date +%s) - T )) s: $WORK/rt-reference.png"

step "5. continue here from the reference's Adam state, export the state, resume with the reference, import again"
node --import tsx scripts/reference/train-more.ts --models-dir "$NR/iddpm/models" --model rt-reference --steps 3 --data "$WORK/recipe/data"
rm -rf "$WORK/recipe2"
printf '{ "checkpointEvery": %s, "logEvery": 1 }\n' "$STEPS" > "$WORK/options2.json"
npm run -s export-recipe -- --model rt-reference --models-dir "$NR/iddpm/models" --out "$WORK/recipe2" --no-data --options "$WORK/options2.json"
HERE=$(node -e "console.log(require('$NR/iddpm/models/rt-reference/model.json').step)")
DATA_DIR="$WORK/recipe/data" DIFFUSION_TRAINING_TEST=1 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE sh "$WORK/recipe2/train.sh" > "$WORK/recipe2-train.log" 2>&1 || { tail -30 "$WORK/recipe2-train.log"; exit 1; }
grep -E 'loading (model|optimizer|EMA)' "$WORK/recipe2-train.log"
B=$(pad $((HERE + STEPS)))
npm run -s import-reference -- --recipe "$WORK/recipe2" --file "run/model$B.pt" --ema "run/ema_0.9999_$B.pt" --opt "run/opt$B.pt" \
  --name rt-back --models-dir "$NR/iddpm/models" --overwrite
curl -fsS -o "$WORK/rt-back.png" "http://localhost:$PORT/iddpm/sample?model=rt-back&count=16&steps=20&seed=1"
echo "GET /iddpm/sample?model=rt-back … → $(wc -c < "$WORK/rt-back.png") bytes: $WORK/rt-back.png"

step "done in $(( $(date +%s) - T0 )) s; everything is in $WORK"
