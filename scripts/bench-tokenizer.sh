#!/usr/bin/env bash
# Tokenizer throughput: Steer's C++ tokenizer against the npm tiktoken
# package (WASM) on the same two texts, in the same run.
set -euo pipefail
build="${1:-build}"
src="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BENCH_DIR:-$build/bench}"
mkdir -p "$dir"
# English prose: the GPL text repeated to about 1 MB.
prose="$dir/prose.txt"
[[ -f "$prose" ]] || for i in $(seq 30); do cat /usr/share/common-licenses/GPL-3; done > "$prose"
# Mixed scripts, emoji, code, digits and whitespace runs from the
# conformance generator (without its very long words).
mixed="$dir/mixed.txt"
[[ -f "$mixed" ]] || node -e '
  const fs = require("fs");
  const lines = fs.readFileSync(0, "utf8").split("\n").filter(Boolean).map(JSON.parse);
  process.stdout.write(lines.filter(c => c.kind === "encode" && c.text.length < 300).map(c => c.text).join("\n"));
' < <(node "$src/test/tokenizer/reference.cjs" "$src" 6000 3) > "$mixed"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
for f in "$prose" "$mixed"; do
  echo "== $(basename "$f")"
  s=$("$build/bin/steer-bench-tokenizer" "$f"); echo "$s"
  t=$(node "$src/test/bench/tokenizer_bench.cjs" "$src" "$f"); echo "$t"
  awk -v a="$(echo "$s" | awk '{print $2}')" -v b="$(echo "$t" | awk '{print $2}')" \
    'BEGIN { printf "ratio steer/tiktoken: %.2fx\n", a / b }'
done
