#!/usr/bin/env bash
# Time-to-ready of checkpoints of growing size against a copying baseline.
# Generates (once) a tiny, a mid-size and a >= 2 GB sharded checkpoint with
# random weights under $BENCH_DIR (default build/bench), then runs
# steer-bench-load on all three.
set -euo pipefail
build="${1:-build}"
dir="${BENCH_DIR:-$build/bench}"
mkdir -p "$dir"
mk() { [[ -f "$2/config.json" ]] || "$build/bin/steer-mkmodel" "${@:3}" -o "$2"; }

mk tiny "$dir/tiny-bf16" --preset tiny --dtype bf16
mk mid "$dir/mid-bf16" --preset mid --dtype bf16
# About 1.0 B parameters in bf16: 24 layers, n_embd 1536, cl100k vocabulary.
cat > "$dir/large.json" <<'JSON'
{"interpretable": true, "n_layers": 24, "n_head": 12, "n_kv_heads": 4,
 "n_embd": 1536, "diff_block_size": 32, "block_size": 2048,
 "concept": {"n_concepts": 4096, "n_unknown_concepts": 16384,
             "concept_dim": 1536, "factorize_rank": 256,
             "topk_known": 32, "topk_known_features": 32, "unknown_topk": 128,
             "inject_layer": 12}}
JSON
mk large "$dir/large-sharded" --config "$dir/large.json" --dtype bf16 --shard-mib 500
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
"$build/bin/steer-bench-load" "$dir/tiny-bf16" "$dir/mid-bf16" "$dir/large-sharded"
