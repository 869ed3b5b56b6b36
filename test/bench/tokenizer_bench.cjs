// npm tiktoken's throughput on the same file as steer-bench-tokenizer,
// with Steerling's encode settings (special-token text as text).
"use strict";
const fs = require("fs");
const path = require("path");
const [srcRoot, file] = process.argv.slice(2);
const { Tiktoken } = require(path.join(srcRoot, "node_modules/tiktoken/lite/tiktoken.cjs"));
const ranks = require(path.join(srcRoot, "node_modules/tiktoken/encoders/cl100k_base.json"));
const enc = new Tiktoken(ranks.bpe_ranks, ranks.special_tokens, ranks.pat_str);
const text = fs.readFileSync(file, "utf8");
const bytes = Buffer.byteLength(text, "utf8");
const times = [];
let tokens = 0;
for (let rep = 0; rep < 5; rep++) {
  const a = process.hrtime.bigint();
  tokens = enc.encode(text, [], []).length;
  times.push(Number(process.hrtime.bigint() - a) / 1e9);
}
times.sort((x, y) => x - y);
const t = times[2];
console.log(`tiktoken ${(bytes / t / 1e6).toFixed(2)} MB/s ${(tokens / t).toFixed(0)} tokens/s (${bytes} bytes, ${tokens} tokens, median of 5)`);
enc.free();
