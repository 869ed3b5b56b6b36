// Fault tests: each bad request gets its documented answer and the server
// keeps serving; a client that leaves frees its slot; a full queue answers
// 429 with Retry-After; SIGTERM under load finishes the requests in flight,
// refuses new ones, and exits 0.
//   node faults.mjs CHECKPOINT
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, sleep, metric } from './harness.mjs';

const [ckpt] = process.argv.slice(2);
const prompt = 'Request: How do I write a question? Response:';

async function post(url, path, body, headers = {}) {
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers },
                                       body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

async function expectError(url, body, status, param, what) {
  const r = await post(url, '/v1/completions', body);
  assert.equal(r.status, status, `${what}: ${r.text}`);
  assert.ok(r.json && r.json.error && typeof r.json.error.message === 'string', `${what}: no JSON error: ${r.text}`);
  if (param !== undefined) assert.equal(r.json.error.param, param, `${what}: ${r.text}`);
  console.log(`${what}: ${status} ${r.json.error.message}`);
}

// --- Bad requests -------------------------------------------------------
{
  const s = await startServer(['--model', `base=${ckpt}`, '--max-body-bytes', '65536']);
  try {
    const good = { model: 'base', prompt, max_tokens: 32, temperature: 0 };
    await expectError(s.url, '{"model": "base", "prompt": ', 400, null, 'malformed JSON');
    await expectError(s.url, '[1, 2]', 400, null, 'not an object');
    // Bytes that are not UTF-8: a 400 (the parse error quotes them), not a 500.
    const bad = Buffer.concat([Buffer.from('{"model": "base", "prompt": "'), Buffer.from([0xa4, 0xff]), Buffer.from('"}')]);
    await expectError(s.url, bad, 400, null, 'invalid UTF-8');
    await expectError(s.url, { ...good, max_tokens: '32' }, 400, 'max_tokens', 'max_tokens as a string');
    await expectError(s.url, { ...good, temperature: 'hot' }, 400, 'temperature', 'temperature as a string');
    await expectError(s.url, { ...good, temperature: -1 }, 400, 'temperature', 'temperature out of range');
    await expectError(s.url, { ...good, seed: -5 }, 400, 'seed', 'negative seed');
    await expectError(s.url, { ...good, stream: 'yes' }, 400, 'stream', 'stream as a string');
    await expectError(s.url, { ...good, stop: [1] }, 400, 'stop[0]', 'stop of numbers');
    await expectError(s.url, { ...good, frobnicate: 1 }, 400, 'frobnicate', 'unknown field');
    await expectError(s.url, { ...good, logit_bias: { 100: 5 } }, 400, 'logit_bias', 'unsupported field');
    await expectError(s.url, { ...good, max_tokens: 100000 }, 400, 'max_tokens', 'max_tokens past the context');
    await expectError(s.url, { ...good, max_tokens: 0 }, 400, 'max_tokens', 'max_tokens 0');
    await expectError(s.url, { ...good, max_tokens: 64, steps: 7 }, 400, 'steps', 'steps not a multiple of the blocks');
    await expectError(s.url, { ...good, prompt: 'word '.repeat(500) }, 400, 'prompt', 'prompt too long');
    await expectError(s.url, { ...good, prompt: '' }, 400, 'prompt', 'empty prompt');
    await expectError(s.url, { ...good, prompt: [5, 999999999] }, 400, 'prompt', 'token id past the vocabulary');
    await expectError(s.url, { ...good, model: 'nope' }, 404, 'model', 'unknown model');
    await expectError(s.url, { ...good, policy: 'base' }, 400, 'policy', 'a checkpoint as policy');
    await expectError(s.url, '['.repeat(100) + ']'.repeat(100), 400, null, 'deep nesting');
    await expectError(s.url, { ...good, prompt: 'x'.repeat(200000) }, 413, null, 'oversize body');
    const chat = await post(s.url, '/v1/chat/completions', { model: 'base', messages: [{ role: 'assistant', content: 'hi' }] });
    assert.equal(chat.status, 400);
    assert.equal(chat.json.error.param, 'messages');
    const notFound = await fetch(`${s.url}/v1/nothing`);
    assert.equal(notFound.status, 404);
    assert.ok((await notFound.json()).error);
    // Still serving.
    const r = await post(s.url, '/v1/completions', good);
    assert.equal(r.status, 200, r.text);
    assert.equal((await (await fetch(`${s.url}/health`)).json()).status, 'ok');
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
}

// --- Clients that leave, a full queue, a timeout -------------------------
{
  const s = await startServer(['--model', `base=${ckpt}`, '--max-batch', '1', '--max-queue', '3']);
  try {
    const long = { model: 'base', prompt, max_tokens: 64, seed: 1 };
    // Three requests hold the one slot and the queue; a fourth waits queued
    // and its client leaves: it must be dropped, not run.
    const busy = [0, 1, 2].map(() => post(s.url, '/v1/completions', long));
    await sleep(50);
    const leaver = http.request(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    leaver.on('error', () => {});
    leaver.end(JSON.stringify(long));
    await sleep(100);
    leaver.destroy();
    // The queue is full now only if the leaver is still counted: wait for it to go.
    const t0 = Date.now();
    while ((await metric(s.url, 'steer_client_disconnects_total')) < 1) {
      assert.ok(Date.now() - t0 < 10000, 'the departed client was not noticed');
      await sleep(20);
    }
    // A client that leaves mid-stream.
    await new Promise((resolve, reject) => {
      const req = http.request(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
        assert.equal(res.statusCode, 200);
        res.once('data', () => { req.destroy(); resolve(); });
      });
      req.on('error', () => {});
      req.end(JSON.stringify({ ...long, stream: true }));
      setTimeout(() => reject(new Error('no stream data')), 30000);
    });
    for (const r of await Promise.all(busy)) assert.equal(r.status, 200, r.text);
    while ((await metric(s.url, 'steer_client_disconnects_total')) < 2) {
      assert.ok(Date.now() - t0 < 20000, 'the client that left mid-stream was not noticed');
      await sleep(20);
    }
    while ((await metric(s.url, 'steer_running_requests')) !== 0) await sleep(20);
    // A full queue: 1 running + 3 queued; the rest get 429 with Retry-After.
    const burst = await Promise.all(Array.from({ length: 8 }, () => post(s.url, '/v1/completions', long)));
    const codes = burst.map((r) => r.status).sort();
    const refused = burst.filter((r) => r.status === 429);
    assert.ok(refused.length >= 1, `no 429 in ${codes}`);
    assert.ok(burst.filter((r) => r.status === 200).length >= 4, `${codes}`);
    for (const r of refused) {
      assert.equal(r.json.error.code, 'queue_full');
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
    }
    console.log(`burst of 8 on batch 1 + queue 3: ${codes.join(' ')}`);
    const after = await post(s.url, '/v1/completions', { ...long, max_tokens: 32 });
    assert.equal(after.status, 200, after.text);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
}

{
  const s = await startServer(['--model', `base=${ckpt}`, '--max-batch', '1', '--request-timeout', '0.05']);
  try {
    const rs = await Promise.all([0, 1, 2].map(() => post(s.url, '/v1/completions', { model: 'base', prompt, max_tokens: 96, seed: 1 })));
    const timedOut = rs.filter((r) => r.status === 504);
    assert.ok(timedOut.length >= 1, `no 504: ${rs.map((r) => r.status)}`);
    assert.equal(timedOut[0].json.error.code, 'timeout');
    while ((await metric(s.url, 'steer_running_requests')) !== 0) await sleep(20);
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
}

// --- SIGTERM under load ---------------------------------------------------
{
  const s = await startServer(['--model', `base=${ckpt}`, '--max-batch', '2']);
  const load = Array.from({ length: 4 }, (_, i) => post(s.url, '/v1/completions', { model: 'base', prompt, max_tokens: 96, seed: i }));
  await sleep(150);
  s.proc.kill('SIGTERM');
  await sleep(20);
  let refused = null;
  try {
    refused = await post(s.url, '/v1/completions', { model: 'base', prompt, max_tokens: 32 });
  } catch { refused = { status: 'connection refused' }; }
  const done = await Promise.all(load);
  for (const r of done) assert.equal(r.status, 200, `in-flight request after SIGTERM: ${r.text}`);
  assert.ok(refused.status === 503 || refused.status === 'connection refused', `new request during drain: ${refused.status}`);
  const { code } = await s.exited;
  assert.equal(code, 0);
  assert.match(s.stderr(), /drained; stopping/);
  console.log(`SIGTERM under load: 4 in flight answered 200, new request: ${refused.status}, exit ${code}`);
}
console.log('fault tests: ok');
