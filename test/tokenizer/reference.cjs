// Writes tokenizer conformance cases computed by the npm package tiktoken
// (the WASM build of OpenAI's tokenizer) with Steerling's special tokens.
//
//   node reference.cjs SRC_ROOT COUNT SEED > cases.jsonl
//
// Each line is {"kind":"encode","text":...,"ids":[...]} or
// {"kind":"decode","ids":[...],"text":...}. Texts are generated from a
// seeded PRNG so that a run is reproducible: Unicode scripts, emoji (ZWJ
// sequences, flags, skin tones), whitespace runs of every White_Space
// character, digit runs, code, very long words, contractions in any case,
// combining marks and special-token text.
"use strict";
const path = require("path");
const [srcRoot, countArg, seedArg] = process.argv.slice(2);
const { Tiktoken } = require(path.join(srcRoot, "node_modules/tiktoken/lite/tiktoken.cjs"));
const ranks = require(path.join(srcRoot, "node_modules/tiktoken/encoders/cl100k_base.json"));

const specials = {
  ...ranks.special_tokens,
  "<|pad|>": 100277, "<|bos|>": 100278, "<|endofchunk|>": 100279, "<|mask|>": 100280,
  "<|start_header_id|>": 100281, "<|end_header_id|>": 100282, "<|eot_id|>": 100283,
};
const enc = new Tiktoken(ranks.bpe_ranks, specials, ranks.pat_str);

let state = BigInt(seedArg || 1);
function rand() { // SplitMix64 -> [0, 1)
  state = (state + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  let z = state;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn;
  z = z ^ (z >> 31n);
  return Number(z >> 11n) / 9007199254740992;
}
const pick = (a) => a[Math.floor(rand() * a.length)];
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));
const range = (lo, hi) => String.fromCodePoint(int(lo, hi));

const words = ["the", "The", "THE", "hello", "world", "concept", "steer", "model",
  "don't", "I'm", "they're", "we've", "you'll", "she'd", "IT'S", "WE'LL", "'s", "'T",
  "naïve", "café", "Straße", "ﬁne", "ǅemal", "İstanbul", "ſtate", "Kelvin",
  "Привет", "мир", "Γειά", "σου", "שלום", "مرحبا", "नमस्ते", "你好", "世界", "こんにちは",
  "カタカナ", "안녕하세요", "สวัสดี", "ሰላም", "Ꭰ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "z̴̢͓a̷l̶g̵o"];
const whitespace = [" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "\u000b", "\u000c",
  "\u0085", "\u00a0", "\u1680", "\u2000", "\u2005", "\u200a", "\u2028", "\u2029",
  "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\ufeff"];
const emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🏳️‍🌈", "❤️", "🤖", "🧪", "☢️", "1️⃣", "🫠"];
const specialText = Object.keys(specials).concat(["<|endoftext", "|>", "<|", "<|mask|><|mask|>"]);
const code = ["int main() { return 0; }", "for (i=0;i<n;++i) a[i]+=b[i];",
  "def f(x):\n    return x**2\n", "SELECT * FROM t WHERE id = 42;", "{\"k\": [1, 2.5e-3]}",
  "#include <stdio.h>", "x => x * 2", "a_b_c.d-e/f\\g", "$ ls -la | grep \"^d\"",
  "<div class=\"x\">&amp;</div>", "0x1F600 0b1011 1e10 3.14159"];

function digits() { let s = ""; const n = int(1, 40); for (let i = 0; i < n; i++) s += int(0, 9); return s; }
function longWord() {
  const alphabet = pick(["abcdefghijklmnopqrstuvwxyz", "аბвгдеж", "αβγδεζηθ", "你好世界中文字符", "xyz"]);
  const chars = Array.from(alphabet); let s = ""; const n = int(300, 5000);
  for (let i = 0; i < n; i++) s += pick(chars);
  return s;
}
function randomCodePoint() {
  const blocks = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff],
    [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f],
    [0x2190, 0x23ff], [0x3040, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3], [0x1f300, 0x1faff],
    [0x10000, 0x1007f], [0x1d400, 0x1d7ff], [0x300, 0x36f]];
  const [lo, hi] = pick(blocks); return range(lo, hi);
}
function fragment() {
  const r = rand();
  if (r < 0.30) return pick(words);
  if (r < 0.45) return pick(whitespace).repeat(int(1, 4));
  if (r < 0.52) return pick(emoji);
  if (r < 0.60) return digits();
  if (r < 0.68) return pick(code);
  if (r < 0.73) return pick(specialText);
  if (r < 0.88) { let s = ""; const n = int(1, 12); for (let i = 0; i < n; i++) s += randomCodePoint(); return s; }
  if (r < 0.95) return pick([".", ",", "!", "?", "...", "—", "“", "”", "'", "\"", "(", ")", "%", "&"]);
  return " ";
}
function text(i) {
  if (i % 97 === 0) return longWord();
  let s = ""; const n = int(1, 30);
  for (let k = 0; k < n; k++) s += fragment();
  return s;
}

const count = Number(countArg || 10000);
const out = [];
const vocabTexted = []; // ids with text, for decode cases
for (let id = 0; id < 100256; id++) vocabTexted.push(id);
for (let i = 0; i < count; i++) {
  const t = text(i);
  out.push(JSON.stringify({ kind: "encode", text: t, ids: Array.from(enc.encode(t, [], [])) }));
}
// Decode: random runs of ids, often splitting multi-byte characters, plus
// special tokens; tiktoken returns bytes, which TextDecoder repairs lossily
// (U+FFFD per maximal invalid subsequence), as Python's errors="replace".
// ignoreBOM keeps a leading U+FEFF in the text, as Python does.
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
for (let i = 0; i < Math.max(1, count / 5); i++) {
  const n = int(1, 12); const ids = [];
  for (let k = 0; k < n; k++) {
    const r = rand();
    if (r < 0.1) ids.push(pick([100257, 100277, 100278, 100279, 100280]));
    else if (r < 0.5) ids.push(int(128, 1000)); // many partial UTF-8 byte tokens
    else ids.push(pick(vocabTexted));
  }
  const bytes = enc.decode(new Uint32Array(ids));
  out.push(JSON.stringify({ kind: "decode", ids, text: decoder.decode(bytes) }));
}
process.stdout.write(out.join("\n") + "\n");
enc.free();
