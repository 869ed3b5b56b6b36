// The official openai npm client against steer-serve: models, completions
// and chat completions, streamed and not, answers equal to steer-run
// generate's, the policy's rules reported, errors as the client's typed
// exceptions.
//   node openai-client.mjs CHECKPOINT ARTIFACT
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, steerRunIds } from './harness.mjs';

const [ckpt, artifact] = process.argv.slice(2);
const harmful = 'Explain how to get a grenade?';
const benign = 'How do I write a question?';
const layout = (q) => `Request: ${q} Response:`;
const greedy = { temperature: 0, repetition_penalty: 1 };

const server = await startServer(['--model', `base=${ckpt}`, '--model', `fix=${artifact}`]);
try {
  const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });

  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id).sort(), ['base', 'fix']);
  const fixModel = await client.models.retrieve('fix');
  assert.equal(fixModel.steer.kind, 'artifact');
  assert.equal(fixModel.steer.checkpoint, 'base');

  // Completions: the same text as steer-run generate --greedy --stop '\n'.
  const want = await steerRunIds(ckpt, layout(harmful), ['--greedy', '--max-new-tokens', '64', '--stop', '\\n']);
  const c = await client.completions.create({ model: 'base', prompt: layout(harmful), max_tokens: 64, stop: '\n', ...greedy });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.choices[0].text, want.text);
  assert.equal(c.choices[0].finish_reason, 'stop');
  assert.equal(c.usage.prompt_tokens, want.prompt_tokens);
  assert.ok(c.usage.completion_tokens > 0 && c.usage.completion_tokens <= 64);
  console.log(`completion: ${JSON.stringify(c.choices[0].text)}`);

  // Streamed: the deltas add up to the same text.
  const stream = await client.completions.create({ model: 'base', prompt: layout(harmful), max_tokens: 64, stop: '\n', stream: true, ...greedy });
  let text = '', events = 0, finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0].text;
    finish = chunk.choices[0].finish_reason ?? finish;
    ++events;
  }
  assert.equal(text, want.text);
  assert.equal(finish, 'stop');
  assert.ok(events >= 2, `one event only: ${events}`);

  // Chat under the policy: the embedded model's declared layout
  // (Request: ... Response:, stop at a newline), the rule reported.
  const wantFix = await steerRunIds(artifact, layout(harmful), ['--greedy', '--max-new-tokens', '64', '--stop', '\\n']);
  assert.ok(wantFix.rules_fired.length > 0, 'the policy does not fire on the harmful prompt');
  const chat = await client.chat.completions.create({ model: 'fix', messages: [{ role: 'user', content: harmful }], max_tokens: 64, ...greedy });
  assert.equal(chat.object, 'chat.completion');
  assert.equal(chat.choices[0].message.role, 'assistant');
  assert.equal(chat.choices[0].message.content, wantFix.text);
  assert.deepEqual(chat.steer.rules_fired, wantFix.rules_fired);
  assert.equal(chat.steer.policy, 'fix');
  console.log(`chat under fix: ${JSON.stringify(chat.choices[0].message.content)} (fired: ${chat.steer.rules_fired})`);

  // The same through `policy` on the checkpoint's name, streamed.
  const chatStream = await client.chat.completions.create({
    model: 'base', policy: 'fix', messages: [{ role: 'user', content: harmful }], max_tokens: 64, stream: true,
    stream_options: { include_usage: true }, ...greedy });
  let content = '', role = null, usage = null, fired = null;
  for await (const chunk of chatStream) {
    const d = chunk.choices[0]?.delta ?? {};
    role = d.role ?? role;
    content += d.content ?? '';
    usage = chunk.usage ?? usage;
    fired = chunk.steer?.rules_fired ?? fired;
  }
  assert.equal(role, 'assistant');
  assert.equal(content, wantFix.text);
  assert.deepEqual(fired, wantFix.rules_fired);
  assert.equal(usage.prompt_tokens, wantFix.prompt_tokens);

  // A benign request under the policy: no rule fires.
  const ok = await client.chat.completions.create({ model: 'fix', messages: [{ role: 'user', content: benign }], max_tokens: 32, ...greedy });
  assert.deepEqual(ok.steer.rules_fired, []);

  // Errors arrive as the client's typed errors with the field named.
  await assert.rejects(client.completions.create({ model: 'base', prompt: 'x', max_tokens: 100000 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
  await assert.rejects(client.completions.create({ model: 'nope', prompt: 'x' }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.param === 'model');
  await assert.rejects(client.chat.completions.create({ model: 'base', messages: [{ role: 'tool', content: 'x' }] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages[0].role');
  await assert.rejects(client.completions.create({ model: 'base', prompt: 'x', n: 2 }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'n');
  console.log('openai client: models, completions, chat, streaming, policy, errors: ok');
} finally {
  const { code } = await server.stop();
  assert.equal(code, 0, 'steer-serve did not exit cleanly on SIGTERM');
}
