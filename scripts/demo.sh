#!/usr/bin/env bash
# The main job, end to end, on the embedded default model.
#
# The trained embedded model does not exist yet (it is its own issue), so the
# demo generates a small Steerling-format checkpoint with RANDOM weights and
# says so: its text is noise, but every stage below is the real one.
# Stages: checkpoint -> strict load -> steer IR (compiler) -> generation ->
# concept attribution (audit) -> compiled policy artifact (fix) -> semantic
# diff (review) -> devices.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
bin="$build/bin"
work="$build/demo"
mkdir -p "$work"

say() { printf '\n== %s\n' "$*"; }

model="$work/random-tiny"
say "Embedded default model: not trained yet; using a RANDOM-weight stand-in"
if [[ ! -f "$model/config.json" ]]; then
  "$bin/steer-mkmodel" --preset tiny --seed 1 --dtype bf16 -o "$model"
else
  echo "reusing $model (RANDOM weights, seed 1)"
fi
"$bin/steer-run" inspect "$model" | sed -n '1,8p'

say "Compile: checkpoint -> steer IR (verified, -O2 pipeline)"
"$bin/steerc" --model "$model" -o "$work/model.mlir"
grep -c 'steer.weight' "$work/model.mlir" | xargs printf '%s weights referenced by symbol (none inlined)\n'
grep -E 'steer\.(embed|block|rms_norm|known_weights|concept_features|unknown_features|compose|lm_head)' \
  "$work/model.mlir" | sed -E 's/ \{.*\}//; s/^ +/  /'

prompt="Question: What is a lighthouse? Answer:"
say "Generate (block diffusion, KV cache, greedy): \"$prompt\""
"$bin/steer-run" generate "$model" --prompt "$prompt" --max-new-tokens 16 --greedy --json \
  > "$work/generate.json"
python3 - "$work/generate.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
t = j["timings"]
print("text (random weights, so noise): %r" % j["text"])
print("%d steps, %.1f tokens/s, %.2f ms per step" % (t["steps"], t["tokens_per_second"], t["mean_step_ms"]))
PY

say "Audit: which concepts drove the generated chunk"
"$bin/steer-run" explain "$model" --prompt "$prompt" --max-new-tokens 16 --greedy --top 5

say "Fix: compile a policy into an artifact and generate through it"
"$bin/steerc" "$src/profiles/reference-injection.policy" --model "$model" -o "$work/amplify.steer"
"$bin/steerc" "$src/profiles/reference-injection-relu.policy" --model "$model" -o "$work/unlearn.steer"
ls -l "$work/amplify.steer" | awk '{printf "%s: %d bytes (self-contained: weights embedded)\n", $NF, $5}'
"$bin/steer-run" generate "$work/amplify.steer" --prompt "$prompt" --max-new-tokens 16 --greedy

say "Review: what changes between the two compiled policies"
"$bin/steer-diff" "$work/amplify.steer" "$work/unlearn.steer" || true

say "Devices"
"$bin/steer-run" devices

echo
echo "Demo done on RANDOM weights. The trained embedded model, on which the"
echo "audit-then-fix loop means something, is its own issue; see docs/architecture.md."
