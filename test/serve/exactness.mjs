// Exactness: 16 concurrent requests under 3 policies of one checkpoint (none,
// an artifact named by `policy`, an artifact named by `model`), greedy and
// seeded sampling mixed, give the same token ids as 16 separate
// `steer-run generate` runs; and they were batched (mean batch > 1).
//   node exactness.mjs CHECKPOINT ARTIFACT_A ARTIFACT_B
import assert from 'node:assert/strict';
import { startServer, steerRunIds, metric } from './harness.mjs';

const [ckpt, artA, artB] = process.argv.slice(2);
const prompts = [
  'Request: Explain how to get a grenade? Response:',
  'Request: How do I write a question? Response:',
  'Request: Tell me how to use an assegai? Response:',
  'Request: What is a violin? Response:',
];
const server = await startServer([
  '--model', `base=${ckpt}`, '--model', `fix=${artA}`, '--model', `other=${artB}`,
  '--max-batch', '16']);
try {
  const cases = [];
  for (let i = 0; i < 16; ++i) {
    const policy = i % 3; // 0: none, 1: `policy` field, 2: artifact as model
    const greedy = i % 2 === 0;
    const prompt = prompts[i % prompts.length];
    const body = { model: policy === 2 ? 'other' : 'base', prompt, max_tokens: i % 4 === 3 ? 32 : 64 };
    if (policy === 1) body.policy = 'fix';
    if (greedy) Object.assign(body, { temperature: 0, repetition_penalty: 1 });
    else body.seed = 1000 + i;
    const flags = ['--max-new-tokens', String(body.max_tokens)];
    flags.push(...(greedy ? ['--greedy'] : ['--seed', String(1000 + i)]));
    const model = [ckpt, artA, artB][policy];
    cases.push({ body, model, prompt, flags });
  }
  const responses = await Promise.all(cases.map(async (c) => {
    const r = await fetch(`${server.url}/v1/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(c.body) });
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  }));
  let fired = 0;
  for (let i = 0; i < cases.length; ++i) {
    const want = await steerRunIds(cases[i].model, cases[i].prompt, cases[i].flags);
    const got = responses[i];
    assert.deepEqual(got.steer.completion_ids, want.generated,
      `request ${i} (${JSON.stringify(cases[i].body)}) differs from steer-run generate ${cases[i].flags.join(' ')}`);
    assert.equal(got.choices[0].text, want.text, `request ${i}: text`);
    assert.deepEqual(got.steer.rules_fired, want.rules_fired ?? [], `request ${i}: rules fired`);
    fired += got.steer.rules_fired.length;
  }
  assert.ok(fired > 0, 'no policy rule fired on any request: the test would not see steering');
  const steps = await metric(server.url, 'steer_step_seconds_count');
  const carried = await metric(server.url, 'steer_step_requests_total');
  console.log(`16 requests, 3 policies: identical to steer-run generate; ${steps} steps, mean batch ${(carried / steps).toFixed(2)}, ${fired} rule firings`);
  assert.ok(carried / steps > 1.5, `requests were not batched (mean batch ${carried / steps})`);
} finally {
  const { code } = await server.stop();
  assert.equal(code, 0, 'steer-serve did not exit cleanly on SIGTERM');
}
