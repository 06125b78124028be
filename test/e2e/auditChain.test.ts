import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import type { Config } from '../../src/infra/config/configSchema.ts';
import { createLogger } from '../../src/infra/logging/logger.ts';
import type { RunningServer } from '../../src/server/startServer.ts';
import { startServer } from '../../src/server/startServer.ts';
import { runCli } from '../helpers/cli.ts';
import { TOKENS, testConfig } from '../helpers/testServer.ts';

// `operator events export` then `operator audit verify`, as the real binary, on a real server's store.

const operator = (...args: string[]) => runCli(args);

let dir: string;
let config: Config;
let configPath: string;
let server: RunningServer;

async function post(path: string, body: unknown = {}): Promise<void> {
  const res = await fetch(`${server.url}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.operator}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
}

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'operator-audit-'));
  config = testConfig(dir, { server: { port: 0, host: '127.0.0.1', log_level: 'warn' } });
  configPath = join(dir, 'operator.yaml');
  await writeFile(configPath, JSON.stringify(config, null, 2));
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  server = await startServer({
    config,
    logger: createLogger({ level: 'warn', destination: quiet }),
    runner: false,
  });
  for (const id of ['chain-a', 'chain-b']) {
    await post('/jobs', { id, params: { note: 'naïve — “quoted”' } });
    await post(`/jobs/${id}/start`);
    await post(`/jobs/${id}/stages/ingest/start`);
    await post(`/jobs/${id}/stages/ingest/complete`, { duration_ms: 7 });
    await post(`/jobs/${id}/stages/review/start`);
    await post(`/jobs/${id}/stages/review/complete`, { duration_ms: 7 });
    await post(`/jobs/${id}/gates/review/approve`, { comment: 'ok, "ship it"' });
  }
});

test.after.always(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

test('an untouched export verifies; one edited byte is named by its line; --json; a continued chain', async (t) => {
  const file = join(dir, 'audit.ndjson');
  const exported = await operator('events', 'export', '--from', '0', '--out', file, '-c', configPath);
  t.is(exported.code, 0, exported.stderr);
  const text = await readFile(file, 'utf8');
  const lines = text.trimEnd().split('\n');
  t.true(lines.length >= 14);
  // the documented rule, computed here: sha256(prev_hash + the line without its two chain fields)
  let prev = '0'.repeat(64);
  for (const line of lines) {
    const match = /^(.*),"prev_hash":"([0-9a-f]{64})","hash":"([0-9a-f]{64})"\}$/.exec(
      line,
    ) as RegExpExecArray;
    t.truthy(match);
    t.is(match[2], prev);
    t.is(match[3], createHash('sha256').update(`${prev}${match[1]}}`).digest('hex'));
    prev = match[3] as string;
  }
  t.regex(exported.stderr, new RegExp(`chain head ${prev}`));

  const ok = await operator('audit', 'verify', file);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout, `verify: ${lines.length} events, chain intact, head ${prev}\n`);
  const okJson = JSON.parse((await operator('audit', 'verify', file, '--json')).stdout) as Record<
    string,
    unknown
  >;
  t.deepEqual(okJson, { file, ok: true, events: lines.length, head: prev, first_break: null });

  // one byte of line 9 changed: the case of the actor's first letter
  const target = 8;
  const bytes = Buffer.from(text);
  let offset = 0;
  for (let i = 0; i < target; i++) offset = bytes.indexOf(0x0a, offset) + 1;
  const at = bytes.indexOf('"actor":"', offset) + 9;
  bytes[at] = (bytes[at] as number) ^ 0x20;
  const tampered = join(dir, 'tampered.ndjson');
  await writeFile(tampered, bytes);
  const broken = await operator('audit', 'verify', tampered);
  t.is(broken.code, 1);
  t.regex(
    broken.stdout,
    new RegExp(`^${tampered.replaceAll('/', '\\/')}:${target + 1}: hash does not match`),
  );
  t.regex(
    broken.stdout,
    new RegExp(`chain broken at line ${target + 1} \\(${target} events verified before it\\)`),
  );
  const brokenJson = JSON.parse((await operator('audit', 'verify', tampered, '--json')).stdout) as {
    ok: boolean;
    first_break: { line: number };
  };
  t.false(brokenJson.ok);
  t.is(brokenJson.first_break.line, target + 1);

  // a line removed
  const removed = join(dir, 'removed.ndjson');
  await writeFile(removed, `${lines.filter((_, i) => i !== 3).join('\n')}\n`);
  const gap = await operator('audit', 'verify', removed);
  t.is(gap.code, 1);
  t.regex(gap.stdout, /:4: prev_hash is not the previous line's hash/);

  // an incremental export continues the chain; without --prev-hash its first line does not verify
  const split = lines.length - 4;
  const headHash = (JSON.parse(lines[split - 1] as string) as { hash: string; position: string }).hash;
  const lastPosition = (JSON.parse(lines[split - 1] as string) as { position: string }).position;
  const tail = join(dir, 'tail.ndjson');
  const next = await operator(
    'events',
    'export',
    '--from',
    String(Number(lastPosition) + 1),
    '--chain-from',
    headHash,
    '--out',
    tail,
    '-c',
    configPath,
  );
  t.is(next.code, 0, next.stderr);
  t.is((await readFile(tail, 'utf8')).trimEnd(), lines.slice(split).join('\n'));
  t.is((await operator('audit', 'verify', tail, '--prev-hash', headHash)).code, 0);
  t.is((await operator('audit', 'verify', tail)).code, 1);

  // plain export on request; usage errors
  const plain = await operator('events', 'export', '--from', '0', '--no-chain', '-q', '-c', configPath);
  t.false(plain.stdout.includes('prev_hash'));
  t.is((await operator('audit', 'verify', join(dir, 'missing.ndjson'))).code, 1);
  t.is((await operator('audit', 'verify', file, '--prev-hash', 'abc')).code, 2);
});
