#!/usr/bin/env bash
# Steering overhead through a compiled artifact: greedy generation of 128
# tokens on a checkpoint (unsteered) and through a thin artifact of
# profiles/reference-injection-relu.policy (an injection from layer 1 plus a
# ReLU logit mask, folded by steerc), interleaved, median of the runs' mean
# step times. Needs the checkpoints of scripts/bench-load.sh.
#
#   scripts/bench-steering.sh [BUILD_DIR] [CHECKPOINT_NAME] [RUNS]
set -euo pipefail
build="${1:-build}"
name="${2:-mid-bf16}"
runs="${3:-5}"
src="$(cd "$(dirname "$0")/.." && pwd)"
ckpt="$build/bench/$name"
art="$build/bench/$name.unlearn.steer"
"$build/bin/steerc" "$src/profiles/reference-injection-relu.policy" --model "$ckpt" --thin -o "$art"
ids=$(seq -s, 11 42) # a 32-token prompt
step() { # mean step time in ms of one generation on $1
  "$build/bin/steer-run" generate "$1" --ids "$ids" --max-new-tokens 128 --greedy \
    --repetition-penalty 1.0 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["timings"]["mean_step_ms"])'
}
plain=() steered=()
for _ in $(seq "$runs"); do
  plain+=("$(step "$ckpt")")
  steered+=("$(step "$art")")
done
python3 - "$name" "${plain[*]}" "${steered[*]}" <<'PY'
import statistics, sys
name, plain, steered = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
p, s = statistics.median(plain), statistics.median(steered)
print("%s: unsteered checkpoint %.2f ms/step, artifact (injection + ReLU mask) %.2f ms/step: overhead %+.1f%%" % (name, p, s, 100 * (s - p) / p))
print("  runs (ms/step): unsteered %s; artifact %s" % (" ".join("%.2f" % x for x in plain), " ".join("%.2f" % x for x in steered)))
PY
