import test from 'ava';
import { ALIAS_FIELDS, toAliasJson } from '../../src/domain/events.ts';
import type { CliWorld } from '../helpers/cli.ts';
import { advance, cliWorld, runCli, settle } from '../helpers/cli.ts';

/** The CLI on the wire: `--names alias` renders the seed's names, same bytes otherwise; tail reads the new default frames. */

let world: CliWorld;
test.before(async () => {
  world = await cliWorld({ streaming: { heartbeat_seconds: 1, retry_ms: 300 } });
  await world.start();
  await advance(world, 'cli-wire', 'completed');
  await settle(world);
});
test.after.always(() => world?.cleanup());

const ndjson = (text: string) => text.split('\n').filter(Boolean);

test('events read/tail/replay --json --names alias: the canonical lines with timestamp, event_type and metadata, equal field by field', async (t) => {
  const canonical = await runCli(world.remote('events', 'read', 'cli-wire', '--json'));
  t.is(canonical.code, 0, canonical.stderr);
  const lines = ndjson(canonical.stdout);
  t.is(lines.length, 12);
  for (const command of [
    ['events', 'read', 'cli-wire', '--json', '--names', 'alias'],
    ['events', 'tail', 'cli-wire', '--after', '-1', '--json', '--names', 'alias'],
    ['events', 'replay', 'cli-wire', '--speed', '1000x', '--json', '--names', 'alias'],
  ]) {
    const alias = await runCli(world.remote(...command));
    t.is(alias.code, 0, `${command.join(' ')}: ${alias.stderr}`);
    const got = ndjson(alias.stdout);
    t.deepEqual(got, lines.map(toAliasJson), command[1]);
    for (const line of got) t.deepEqual(Object.keys(JSON.parse(line)), [...ALIAS_FIELDS]);
  }
  const bad = await runCli(world.remote('events', 'read', 'cli-wire', '--json', '--names', 'seed'));
  t.is(bad.code, 2);
  t.regex(bad.stderr, /--names must be one of canonical, alias/);
});

test('events tail on the default (unnamed) wire: prints events, never a heartbeat, and ends with the job; a resume at the end is 204, not an error', async (t) => {
  const tail = await runCli(world.remote('events', 'tail', 'cli-wire', '--after', '-1'));
  t.is(tail.code, 0, tail.stderr);
  const printed = tail.stdout.trimEnd().split('\n');
  t.is(printed.length, 12);
  t.false(tail.stdout.includes('heartbeat'));
  t.regex(printed.at(-1) ?? '', /job_completed/);
  const atEnd = await runCli(world.remote('events', 'tail', 'cli-wire', '--after', '11'));
  t.is(atEnd.code, 0, atEnd.stderr);
  t.is(atEnd.stdout, '');
  t.is(atEnd.stderr, '');
});
