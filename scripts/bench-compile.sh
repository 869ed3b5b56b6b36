#!/usr/bin/env bash
# steerc compile time, thin and self-contained, on the tiny preset and the
# >= 2 GB sharded checkpoint of scripts/bench-load.sh (run that first), with
# the baseline of reading the checkpoint's files once (cat > /dev/null) in
# the same run. Page cache warm; best of 3.
set -euo pipefail
build="${1:-build}"
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-$build/bench}"
policy="$src/profiles/reference-injection.policy"
best() { # best wall time of 3 runs of "$@", in seconds
  local b=999999
  for _ in 1 2 3; do
    local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
    b=$(awk -v b="$b" -v t="$(awk -v s="$s" -v e="$e" 'BEGIN{print e-s}')" 'BEGIN{print (t<b)?t:b}')
  done
  echo "$b"
}
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
printf '%-16s %10s %12s %12s %16s %8s\n' checkpoint size "read once" thin self-contained artifact
for m in tiny-bf16 large-sharded; do
  ck="$dir/$m"
  size=$(du -sb "$ck" | cut -f1)
  base=$(best cat "$ck"/*)
  thin=$(best "$build/bin/steerc" "$policy" --model "$ck" --thin -o "$dir/$m.thin.steer")
  full=$(best "$build/bin/steerc" "$policy" --model "$ck" -o "$dir/$m.full.steer")
  asize=$(stat -c %s "$dir/$m.full.steer")
  awk -v m="$m" -v s="$size" -v b="$base" -v t="$thin" -v f="$full" -v a="$asize" \
    'BEGIN { printf "%-16s %8.1fMB %10.3fs %10.3fs %14.3fs %6.1fMB\n", m, s / 1e6, b, t, f, a / 1e6 }'
  rm -f "$dir/$m.full.steer"
done
