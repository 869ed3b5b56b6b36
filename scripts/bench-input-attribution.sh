#!/usr/bin/env bash
# Input attribution speed (integrated gradients on each commit's snapshot)
# beside the public reference's own attribution (PyTorch autograd, float32)
# on the same machine, checkpoint, prompt and generation, in one run.
#
#   scripts/bench-input-attribution.sh [BUILD_DIR]
#
# The mid-size setting of docs/benchmarks.md (refcheck make-ckpt: 12 layers,
# n_embd 768, GQA 12/4, vocab 100281, 4096/16384 concepts, bf16, diff block
# 64), an 11-token prompt, 64 greedy tokens with steps = tokens (one token
# per commit group, the reference's default): every token at n_steps 1, and
# the first GROUPS_32 (default 2) tokens at n_steps 32. Only the
# attribution is timed on both sides (generation excluded). Needs
# STEERLING_REF (see ../shared/tools/refcheck/README.md) and python3-torch.
set -euo pipefail
build="${1:-build}"
dir="${BENCH_DIR:-$build/bench}"
src="$(cd "$(dirname "$0")/.." && pwd)"
refdir="${REFCHECK_DIR:-$src/../shared/tools/refcheck}"
g32="${GROUPS_32:-2}"
mkdir -p "$dir"
if [[ -z "${STEERLING_REF:-}" || ! -d "$STEERLING_REF/steerling" ]] ||
   ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "skipped: set STEERLING_REF to a checkout of guidelabs/steerling and install python3-torch"
  exit 0
fi
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_tile|amx_bf16' | tr '\n' ' ')
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; ISA: $flags"
ck="$dir/mid-ref"
[[ -f "$ck/config.json" ]] || STEERLING_REF="$STEERLING_REF" /usr/bin/python3 "$refdir/refcheck.py" \
  make-ckpt "$ck" --seed 3 --layers 12 --embd 768 --heads 12 --kv 4 --block 64 \
  --vocab 100281 --ctx 4096 --known 4096 --unknown 16384 --topk 32 --unk-topk 128 \
  --rank 128 --std 0.03 --dtype bfloat16 >/dev/null
for spec in "1 0" "32 $g32"; do
  set -- $spec
  ours=$("$build/bin/steer-bench-input-attribution" "$ck" 64 64 "$1" "$2")
  ref=$(STEERLING_REF="$STEERLING_REF" /usr/bin/python3 "$src/test/bench/input_attribution_ref.py" \
        "$refdir" "$ck" 64 64 "$1" "$2" 11 "$(nproc)" | tail -1)
  /usr/bin/python3 - "$ours" "$ref" <<'PY'
import json, sys
o, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert o["tokens"] == r["tokens"], "the generations differ"
scale = max(abs(v) for v in r["first_row"])
err = max(abs(a - b) for a, b in zip(o["first_row"], r["first_row"])) / scale
print("n_steps %2d, %2d tokens: Steer (%s) %.1f ms/token (%.1f ms per token-step), "
      "reference %.1f ms/token (%.1f per token-step): %.2fx; first row agrees within %.1e of its max"
      % (o["ig_steps"], o["targets"], o["path"], o["ms_per_target"], o["ms_per_target_step"],
         r["ms_per_target"], r["ms_per_target_step"], r["ms_per_target"] / o["ms_per_target"], err))
PY
done
