// Tokenizes the corpus with cl100k_base (npm tiktoken, the project's
// tokenizer reference): reads JSONL documents on stdin, writes one JSON line
// per document with the token ids and each token's character length
// (the corpus is ASCII, so bytes and characters coincide).
import { get_encoding } from "tiktoken";
import { createInterface } from "node:readline";

const enc = get_encoding("cl100k_base");
const lengths = new Map();
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
for await (const line of rl) {
  if (!line) continue;
  const doc = JSON.parse(line);
  const ids = Array.from(enc.encode(doc.text));
  const lens = ids.map((id) => {
    let n = lengths.get(id);
    if (n === undefined) {
      n = enc.decode_single_token_bytes(id).length;
      lengths.set(id, n);
    }
    return n;
  });
  out.push(JSON.stringify({ ids, lens }));
  if (out.length >= 4096) {
    process.stdout.write(out.join("\n") + "\n");
    out.length = 0;
  }
}
if (out.length) process.stdout.write(out.join("\n") + "\n");
enc.free();
