#!/usr/bin/env bash
# CPU generation speed on every kernel path this machine runs, beside the
# public reference on the same machine in the same run.
#
#   scripts/bench-cpu.sh [BUILD_DIR]
#
# 1. steer-bench-generate on the tiny and mid presets (steer-mkmodel) once
#    per path (STEER_ISA): cached/uncached speed, the forward against the
#    path's roofline (peak and bandwidth measured in the same run).
# 2. The mid-size setting of docs/benchmarks.md: the reference's own random
#    init (refcheck make-ckpt: 12 layers, n_embd 768, GQA 12/4, vocab
#    100281, 4096/16384 concepts, bf16, diff block 64), 64 greedy tokens,
#    steps = tokens, after an 11-token and a 512-token prompt: `steer-run
#    generate` on each path (one process per run: weights are mapped and
#    packed inside the time) against the reference's generate_full
#    (refcheck bench: warm, median of REF_RUNS) in bfloat16 and float32.
#    Needs STEERLING_REF (a checkout of guidelabs/steerling, see
#    ../shared/tools/refcheck/README.md) and python3-torch; without them
#    part 2 is skipped with a note. REF_F32_LONG=1 also runs float32 on
#    the 512-token prompt (slow: minutes per run).
set -euo pipefail
build="${1:-build}"
dir="${BENCH_DIR:-$build/bench}"
refcheck="${REFCHECK:-$(dirname "$0")/../../shared/tools/refcheck/refcheck.py}"
runs="${REF_RUNS:-1}"
mkdir -p "$dir"

paths=$("$build/bin/steer-run" devices | sed -n 's/.*(runs: *\([a-z0-9 ]*\)).*/\1/p')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_tile|amx_bf16' | tr '\n' ' ')
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; ISA: $flags"
echo "kernel paths here: $paths"

mk() { [[ -f "$2/config.json" ]] || "$build/bin/steer-mkmodel" "${@:3}" -o "$2"; }
mk tiny "$dir/tiny-bf16" --preset tiny --dtype bf16
mk mid "$dir/mid-bf16" --preset mid --dtype bf16
echo
echo "== 1. steer-bench-generate per path"
for p in $paths; do
  for m in tiny mid; do
    n=128; [[ $m == mid ]] && n=64
    echo "-- $m, STEER_ISA=$p"
    STEER_ISA=$p "$build/bin/steer-bench-generate" "$dir/$m-bf16" "$n" 32
  done
done

echo
echo "== 2. side by side with the reference (mid, 64 greedy tokens, steps = tokens)"
if [[ -z "${STEERLING_REF:-}" || ! -d "$STEERLING_REF/steerling" ]] ||
   ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "skipped: set STEERLING_REF to a checkout of guidelabs/steerling and install python3-torch"
  exit 0
fi
ref() { STEERLING_REF="$STEERLING_REF" /usr/bin/python3 "$refcheck" "$@"; }
ck="$dir/mid-ref"
[[ -f "$ck/config.json" ]] || ref make-ckpt "$ck" --seed 3 --layers 12 --embd 768 \
  --heads 12 --kv 4 --block 64 --vocab 100281 --ctx 4096 --known 4096 \
  --unknown 16384 --topk 32 --unk-topk 128 --rank 128 --std 0.03 --dtype bfloat16 >/dev/null
tps() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.3f" % (d["tokens_per_s"] if "tokens_per_s" in d else d["timings"]["tokens_per_second"]))'; }
for plen in 11 512; do
  ids=$(/usr/bin/python3 -c "print(','.join(str(1 + (i * 7919) % 100000) for i in range($plen)))")
  [[ $plen == 11 ]] && ids=1,2,3,4,5,6,7,8,9,10,11
  echo "-- prompt of $plen tokens"
  declare -A got=()
  for p in $paths; do
    got[$p]=$(STEER_ISA=$p "$build/bin/steer-run" generate "$ck" --ids "$ids" \
      --max-new-tokens 64 --greedy --repetition-penalty 1.0 --json | tps)
    echo "steer $p: ${got[$p]} tokens/s"
  done
  best=0; bestName=
  dtypes="bfloat16"
  [[ $plen == 11 || -n "${REF_F32_LONG:-}" ]] && dtypes="bfloat16 float32"
  for dt in $dtypes; do
    r=$(ref bench "$ck" --ids "$ids" --gen 64 --runs "$runs" --dtype "$dt" | tps)
    echo "reference $dt: $r tokens/s"
    if /usr/bin/python3 -c "import sys; sys.exit(not ($r > $best))"; then best=$r; bestName=$dt; fi
  done
  for p in $paths; do
    /usr/bin/python3 -c "print('steer $p vs the reference ($bestName, the faster run): %.2fx' % (${got[$p]} / $best))"
  done
done
