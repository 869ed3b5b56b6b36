#!/usr/bin/env bash
# steer-serve under load on loopback, on the embedded model with a policy
# mix (none, `policy: fix`, the unlearning artifact as model), in one run:
#   1. throughput and p50/p99 latency at 1, 4 and 16 concurrent clients
#      (--max-batch 16);
#   2. 8 concurrent clients, batched (--max-batch 8) against sequential
#      serving (--max-batch 1), same requests, same run;
#   3. a soak: 8 clients back to back for SOAK_SECONDS (default 120) with
#      the server's RSS sampled every 5 s.
# Traffic goes only to 127.0.0.1. Prints markdown rows for
# docs/serving.md.
#
#   scripts/bench-serve.sh [BUILD_DIR]
set -euo pipefail
build="${1:-build}"
src="$(cd "$(dirname "$0")/.." && pwd)"
bin="$build/bin"
dir="$build/bench/serve"
n="${REQUESTS:-48}"
tokens="${MAX_TOKENS:-64}"
soak="${SOAK_SECONDS:-120}"
model="$src/models/steerling-wordnet"
mkdir -p "$dir"
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' |
        grep -xE 'avx2|fma|avx512f|avx512_bf16|amx_tile|amx_bf16' | tr '\n' ' ')
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; ISA: $flags; kernels: $("$bin/steer-run" devices | sed -n 's/^cpu: *//p')"
"$bin/steerc" "$src/profiles/audit-then-fix.policy" --model "$model" -o "$dir/fix.steer"
"$bin/steerc" "$src/profiles/reference-injection-relu.policy" --model "$model" -o "$dir/relu.steer"

pid=""
start() { # start MAX_BATCH
  rm -f "$dir/port"
  "$bin/steer-serve" --model "base=$model" --model "fix=$dir/fix.steer" --model "other=$dir/relu.steer" \
    --max-batch "$1" --max-queue 256 --port 0 --port-file "$dir/port" 2>>"$dir/server.log" &
  pid=$!
  for _ in $(seq 600); do [[ -s "$dir/port" ]] && break; sleep 0.05; done
  url="http://127.0.0.1:$(cat "$dir/port")"
  node "$src/test/serve/load.mjs" "$url" 2 4 "$tokens" >/dev/null # warm-up
}
stop() { kill -TERM "$pid"; wait "$pid"; }
load() { node "$src/test/serve/load.mjs" "$url" "$@" "$tokens"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

echo
echo "| clients | max batch | requests | requests/s | tokens/s | p50 ms | p99 ms |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
row() { # clients batch json
  echo "| $1 | $2 | $(echo "$3" | field requests) | $(echo "$3" | field requests_per_s) | $(echo "$3" | field tokens_per_s) | $(echo "$3" | field p50_ms) | $(echo "$3" | field p99_ms) |"
}
start 16
for c in 1 4 16; do
  row "$c" 16 "$(load "$c" "$n")"
done
stop
start 8
batched=$(load 8 "$n")
row 8 8 "$batched"
stop
start 1
sequential=$(load 8 "$n")
row 8 1 "$sequential"
stop
b=$(echo "$batched" | field requests_per_s)
s=$(echo "$sequential" | field requests_per_s)
echo
echo "8 clients: batched / sequential throughput = $(python3 -c "print(f'{$b / $s:.2f}')")x"

echo
echo "soak: 8 clients for ${soak} s, RSS every 5 s (MiB):"
start 8
load 8 "${soak}s" > "$dir/soak.json" &
lp=$!
rss=()
while kill -0 "$lp" 2>/dev/null; do
  rss+=("$(awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status")")
  sleep 5
done
wait "$lp"
stop
echo "${rss[*]}"
python3 - "${rss[@]}" <<'PY'
import sys
v = [float(x) for x in sys.argv[1:]]
warm = v[min(2, len(v) - 1):]
print(f"RSS after warm-up: first {warm[0]:.1f} MiB, last {warm[-1]:.1f} MiB, max {max(warm):.1f} MiB, "
      f"growth {warm[-1] - warm[0]:+.1f} MiB over {5 * (len(warm) - 1)} s")
PY
cat "$dir/soak.json"
