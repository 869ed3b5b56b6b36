#!/usr/bin/env bash
# The main job, end to end, on the embedded default model.
#
# The trained embedded model does not exist yet (it is its own issue), so the
# demo generates a small Steerling-format checkpoint with RANDOM weights and
# says so. What it shows is the pipeline as far as it stands: checkpoint ->
# strict load -> steer IR (verified) -> optimisation pipeline -> devices.
set -euo pipefail
build="${1:-build}"
bin="$build/bin"
work="$build/demo"
mkdir -p "$work"

say() { printf '\n== %s\n' "$*"; }

model="$work/random-tiny"
say "Embedded default model: not trained yet; generating a RANDOM-weight stand-in"
if [[ ! -f "$model/config.json" ]]; then
  "$bin/steer-mkmodel" --preset tiny --seed 1 --dtype bf16 -o "$model"
else
  echo "reusing $model (RANDOM weights, seed 1)"
fi

say "Compile: checkpoint -> steer IR, verified, -O2 pipeline"
"$bin/steerc" --model "$model" -o "$work/model.mlir"
grep -c 'steer.weight' "$work/model.mlir" | xargs printf '%s weights referenced by symbol (none inlined)\n'
grep -E 'steer\.(embed|block|rms_norm|known_weights|concept_features|unknown_features|compose|lm_head)' \
  "$work/model.mlir" | sed -E 's/ \{.*\}//; s/^ +/  /'

say "Round trip through steer-opt (parse, verify, print)"
"$bin/steer-opt" "$work/model.mlir" -steer-pipeline > "$work/model.roundtrip.mlir"
cmp -s "$work/model.mlir" "$work/model.roundtrip.mlir" && echo "identical after a second pipeline run"

say "Devices"
"$bin/steer-run" devices

echo
echo "Demo done. Generation, attribution and compiled policies arrive with the"
echo "runtime and compiler issues; see docs/architecture.md."
