// Load on loopback: C concurrent clients, each sending requests back to back
// (a policy mix: none, `policy: fix`, the second artifact) until N requests
// have been answered; prints throughput and latency as JSON. Traffic goes
// only to the given 127.0.0.1 URL.
//   node load.mjs URL CLIENTS REQUESTS|SECONDSs [MAX_TOKENS]
// ("120s": clients send requests back to back for 120 seconds.)
const [url, clientsArg, requestsArg, maxTokensArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const forSeconds = requestsArg.endsWith('s') ? Number(requestsArg.slice(0, -1)) : 0;
const total = forSeconds ? 1e9 : Number(requestsArg);
const maxTokens = Number(maxTokensArg ?? 64);
if (!url.startsWith('http://127.0.0.1:')) throw new Error('load.mjs sends traffic to 127.0.0.1 only');
const prompts = [
  'Request: Explain how to get a grenade? Response:',
  'Request: How do I write a question? Response:',
  'Request: Tell me how to use an assegai? Response:',
  'Request: What is a violin? Response:',
];
function bodyOf(i) {
  const body = { model: i % 3 === 2 ? 'other' : 'base', prompt: prompts[i % prompts.length], max_tokens: maxTokens, seed: i };
  if (i % 3 === 1) body.policy = 'fix';
  return body;
}
let next = 0, tokens = 0, failures = 0;
const latencies = [];
const deadline = performance.now() + forSeconds * 1000;
async function client() {
  while (next < total && (!forSeconds || performance.now() < deadline)) {
    const body = bodyOf(next++);
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const j = await r.json();
    if (r.status !== 200) { ++failures; continue; }
    latencies.push(performance.now() - t0);
    tokens += j.usage.completion_tokens;
  }
}
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, client));
const secs = (performance.now() - t0) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
console.log(JSON.stringify({
  clients, requests: latencies.length, failures, seconds: +secs.toFixed(3),
  requests_per_s: +(latencies.length / secs).toFixed(3), tokens_per_s: +(tokens / secs).toFixed(1),
  p50_ms: +pct(0.5).toFixed(1), p99_ms: +pct(0.99).toFixed(1),
}));
