// Starts steer-serve on a free loopback port for a test and stops it after.
// Tools come from PATH (lit puts the build's bin/ there).
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startServer(args, { timeoutMs = 120000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'steer-serve-'));
  const portFile = join(dir, 'port');
  const proc = spawn('steer-serve', [...args, '--port', '0', '--port-file', portFile],
                     { stdio: ['ignore', 'inherit', 'pipe'] });
  // A test that dies must not leave its server running (lit would wait on
  // the server's inherited stdout).
  process.on('exit', () => { if (proc.exitCode === null) proc.kill('SIGKILL'); });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; process.stderr.write(d); });
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  const t0 = Date.now();
  while (!existsSync(portFile)) {
    if (proc.exitCode !== null) throw new Error(`steer-serve exited ${proc.exitCode}: ${stderr}`);
    if (Date.now() - t0 > timeoutMs) throw new Error('steer-serve did not start');
    await sleep(20);
  }
  const port = Number(readFileSync(portFile, 'utf8').trim());
  const url = `http://127.0.0.1:${port}`;
  return {
    url, proc, exited,
    stderr: () => stderr,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const r = await exited;
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

// Token ids steer-run generate gives for the same settings.
// (Asynchronous: a synchronous child would stall the event loop, and a
// keep-alive socket the server closed meanwhile would be reused.)
export async function steerRunIds(model, prompt, flags) {
  const { stdout } = await promisify(execFile)(
    'steer-run', ['generate', model, '--prompt', prompt, '--json', ...flags], { encoding: 'utf8' });
  return JSON.parse(stdout);
}

export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l === name);
  assert.ok(line, `metric ${name} missing`);
  return Number(line.split(' ').pop());
}
