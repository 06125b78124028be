import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import test from 'ava';
import type { JobEvent } from '../../../src/domain/events.ts';
import { isConfigError, loadConfig } from '../../../src/infra/config/loadConfig.ts';
import type { ConsoleOutput } from '../../../src/infra/logging/consoleDestination.ts';
import { consoleDestination, withoutEventFields } from '../../../src/infra/logging/consoleDestination.ts';
import type { LogFormat } from '../../../src/infra/logging/logFormat.ts';
import { createLogger, logStoredEvent } from '../../../src/infra/logging/logger.ts';

/** A stand-in for stdout that records what is written, a TTY or not. */
function output(isTTY: boolean): ConsoleOutput & { text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  }) as Writable & { isTTY?: boolean; text: () => string };
  stream.isTTY = isTTY;
  stream.text = () => text;
  return stream;
}

const event: JobEvent = {
  id: 'e-1',
  job_id: 'first-job',
  seq: 4,
  position: '1042',
  ts: '2026-11-24T10:00:00.123Z',
  type: 'stage_started',
  stage: 'script',
  status: 'running',
  message: 'stage script started',
  payload: {},
  actor: 'runner',
};

async function logSome(format: LogFormat, isTTY: boolean): Promise<{ format: string; lines: string[] }> {
  const out = output(isTTY);
  const console = consoleDestination(format, out);
  const logger = createLogger({ level: 'info', destination: console.destination });
  logger.info({ port: 8008, store: 'lmdb' }, 'operator listening on http://127.0.0.1:8008');
  logger.child({ component: 'webhooks' }).warn({ endpoint: 'hook-1' }, 'endpoint failing');
  logger.child({ component: 'runner' }).info({ job_id: 'other-job', stage: 'render' }, 'stage spawned');
  logStoredEvent(logger, event);
  logStoredEvent(logger, { ...event, seq: 5, type: 'stage_failed', message: 'exit code 1' });
  await new Promise((resolve) => setImmediate(resolve));
  return { format: console.format, lines: out.text().split('\n').filter(Boolean) };
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[\\d+m`);

test('pretty: one readable line per record, [events] lines as "<job> #<seq> <type> <stage>: <message>"', async (t) => {
  const { format, lines } = await logSome('pretty', false);
  t.is(format, 'pretty');
  t.is(lines.length, 5);
  for (const line of lines) {
    t.false(line.includes('{"level":'), line);
    t.regex(line, /^\[\d\d:\d\d:\d\d\.\d{3}\] (INFO|WARN|ERROR): /, 'time and level first');
  }
  t.false(ANSI.test(lines.join('\n')), 'no colours when the output is not a terminal');
  t.regex(
    lines[0] ?? '',
    /INFO: operator listening on http:\/\/127\.0\.0\.1:8008 \{"port":8008,"store":"lmdb"\}$/,
  );
  t.regex(lines[1] ?? '', /WARN: \[webhooks\] endpoint failing \{"endpoint":"hook-1"\}$/, 'component shown');
  // Another component's job_id and stage are its own facts: they stay on its line.
  t.regex(lines[2] ?? '', /INFO: \[runner\] stage spawned \{"job_id":"other-job","stage":"render"\}$/);
  // The mirror's fields repeat its message, so its line ends with the message.
  t.regex(lines[3] ?? '', /INFO: \[events\] first-job #4 stage_started script: stage script started$/);
  t.regex(lines[4] ?? '', /ERROR: \[events\] first-job #5 stage_failed script: exit code 1$/);
});

test('auto: pretty on a terminal (with colours when asked for), JSON lines when the output is piped', async (t) => {
  const piped = await logSome('auto', false);
  t.is(piped.format, 'json');
  for (const line of piped.lines) t.is(typeof JSON.parse(line).level, 'number');
  const mirrored = JSON.parse(piped.lines[3] ?? '{}');
  t.like(mirrored, { job_id: 'first-job', seq: 4, type: 'stage_started', stage: 'script', actor: 'runner' });
  t.is(mirrored.msg, '[events] first-job #4 stage_started script: stage script started');

  const previous = { FORCE_COLOR: process.env['FORCE_COLOR'], NO_COLOR: process.env['NO_COLOR'] };
  process.env['FORCE_COLOR'] = '1';
  delete process.env['NO_COLOR'];
  try {
    const tty = await logSome('auto', true);
    t.is(tty.format, 'pretty');
    t.true(ANSI.test(tty.lines.join('\n')), 'colours on a terminal');
    t.false(tty.lines.some((l) => l.includes('{"level":')));
  } finally {
    for (const [key, value] of Object.entries(previous))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
});

test('json stays JSON on a terminal when asked for', async (t) => {
  const { format, lines } = await logSome('json', true);
  t.is(format, 'json');
  t.is(lines.length, 5);
  for (const line of lines) t.is(typeof JSON.parse(line).level, 'number');
});

test('withoutEventFields drops the mirrored fields of [events] records only', (t) => {
  const mirror = `${JSON.stringify({ level: 30, job_id: 'j', seq: 1, type: 'job_started', msg: '[events] j #1 job_started' })}\n`;
  t.deepEqual(JSON.parse(withoutEventFields(mirror)), { level: 30, msg: '[events] j #1 job_started' });
  // A message that merely mentions the tag elsewhere is not the mirror.
  const other = `${JSON.stringify({ level: 30, job_id: 'j', msg: 'see [events] tag' })}\n`;
  t.is(withoutEventFields(other), other);
});

/** Directories the tests made, removed once they have all run. */
const made: string[] = [];
test.after.always(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

function configWith(yaml: string, env: NodeJS.ProcessEnv = {}) {
  const cwd = mkdtempSync(join(tmpdir(), 'operator-logformat-'));
  made.push(cwd);
  writeFileSync(join(cwd, 'c.yaml'), yaml);
  return loadConfig({ path: 'c.yaml', cwd, env });
}

test('server.log_format defaults to auto; OPERATOR_LOG_FORMAT overrides it; a bad value names the key', (t) => {
  t.is(configWith('{}\n').server.log_format, 'auto');
  t.is(configWith('server: {log_format: json}\n').server.log_format, 'json');
  t.is(
    configWith('server: {log_format: json}\n', { OPERATOR_LOG_FORMAT: 'pretty' }).server.log_format,
    'pretty',
  );
  const error = t.throws(() => configWith('{}\n', { OPERATOR_LOG_FORMAT: 'fancy' }));
  t.true(isConfigError(error));
  t.regex(
    error?.message ?? '',
    /env OPERATOR_LOG_FORMAT: server\.log_format: expected one of auto, pretty, json/,
  );
});
