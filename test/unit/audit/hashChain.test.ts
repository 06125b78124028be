import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import test from 'ava';
import {
  csvField,
  gateDecisionCsvHeader,
  gateDecisionCsvRow,
  toGateDecision,
} from '../../../src/audit/gateDecisions.ts';
import { GENESIS_HASH, HashChain, hashChainTransform } from '../../../src/audit/hashChain.ts';
import { byteLines, verifyHashChain } from '../../../src/audit/verifyHashChain.ts';
import type { JobEvent } from '../../../src/domain/events.ts';
import { toCanonicalJson } from '../../../src/domain/events.ts';

const event = (i: number, over: Partial<JobEvent> = {}): JobEvent => ({
  id: `e${i}`,
  job_id: 'j1',
  seq: i,
  position: String(100 + i),
  ts: '2026-11-24T10:00:00.123Z',
  type: 'stage_completed',
  stage: 'script',
  status: 'running',
  message: `stage script completed — Zoë ${i}`,
  payload: { n: i },
  actor: 'runner',
  ...over,
});

async function exported(n: number): Promise<string> {
  const chunks: string[] = [];
  const transform = hashChainTransform();
  const done = new Promise<void>((resolve) => transform.on('end', resolve));
  transform.on('data', (c: Buffer) => chunks.push(c.toString()));
  for (let i = 0; i < n; i++) transform.write(i % 2 === 0 ? event(i) : `${toCanonicalJson(event(i))}\n`);
  transform.end();
  await done;
  return chunks.join('');
}

const verify = (text: string | Buffer, options = {}) =>
  verifyHashChain(Readable.from([Buffer.from(text)]), options);

test('each line is the canonical event plus prev_hash and hash = sha256(prev_hash + event JSON)', async (t) => {
  const text = await exported(3);
  const lines = text.trimEnd().split('\n');
  t.is(lines.length, 3);
  let prev = GENESIS_HASH;
  for (const [i, line] of lines.entries()) {
    const { prev_hash, hash, ...rest } = JSON.parse(line) as JobEvent & { prev_hash: string; hash: string };
    const json = toCanonicalJson(rest as JobEvent);
    t.is(prev_hash, prev);
    t.is(
      hash,
      createHash('sha256')
        .update(prev + json)
        .digest('hex'),
    );
    t.is(line, `${json.slice(0, -1)},"prev_hash":"${prev}","hash":"${hash}"}`);
    t.deepEqual(rest, event(i));
    prev = hash;
  }
  t.deepEqual(await verify(text), { ok: true, events: 3, head: prev, first_break: null });
});

test('editing any single byte of a line is caught on that line', async (t) => {
  const text = await exported(5);
  const bytes = Buffer.from(text);
  const lineStarts = [0, ...[...bytes.entries()].filter(([, b]) => b === 0x0a).map(([i]) => i + 1)].slice(
    0,
    5,
  );
  for (let offset = 0; offset < bytes.length; offset += 7) {
    if (bytes[offset] === 0x0a) continue;
    const copy = Buffer.from(bytes);
    copy[offset] = (copy[offset] as number) ^ 0x01;
    const line = lineStarts.filter((s) => s <= offset).length;
    const result = await verify(copy);
    t.false(result.ok, `byte ${offset}`);
    t.is(result.first_break?.line, line, `byte ${offset}`);
  }
});

test('removed, swapped and truncated lines; a continued chain; an expected head', async (t) => {
  const text = await exported(4);
  const lines = text.trimEnd().split('\n');
  const removed = await verify(`${[lines[0], lines[2], lines[3]].join('\n')}\n`);
  t.is(removed.first_break?.line, 2);
  t.regex(removed.first_break?.reason ?? '', /removed, inserted or moved/);
  const swapped = await verify(`${[lines[0], lines[2], lines[1], lines[3]].join('\n')}\n`);
  t.is(swapped.first_break?.line, 2);
  const crlf = await verify(text.replace('\n', '\r\n'));
  t.is(crlf.first_break?.line, 1);
  const blank = await verify(text.replace('\n', '\n\n'));
  t.is(blank.first_break?.line, 2);
  const full = await verify(text);
  const cut = await verify(`${lines.slice(0, 3).join('\n')}\n`, { expectHead: full.head });
  t.false(cut.ok);
  t.is(cut.first_break?.line, 4);
  // a second export continuing from the first one's head
  const chain = new HashChain(full.head);
  const next = `${chain.append(toCanonicalJson(event(9)))}\n`;
  t.true((await verify(next, { prevHash: full.head })).ok);
  t.is((await verify(next)).first_break?.line, 1);
  t.true((await verify('')).ok);
  // the bytes around the lines count too: an extra newline at the end, the last newline dropped, a torn line
  const extra = await verify(`${text}\n`);
  t.like(extra.first_break, { line: 5, reason: 'empty line' });
  const dropped = await verify(text.slice(0, -1));
  t.like(dropped.first_break, { line: 4 });
  t.regex(dropped.first_break?.reason ?? '', /no newline: the file was cut/);
  const torn = await verify(text.slice(0, -40));
  t.is(torn.first_break?.line, 4);
  t.regex(torn.first_break?.reason ?? '', /no newline/);
});

test('byteLines: the same lines whatever the chunks, each line joined once', async (t) => {
  const text = Buffer.from('{"a":1}\n\nlong-line-without-end');
  const expected = [
    { bytes: '{"a":1}', terminated: true },
    { bytes: '', terminated: true },
    { bytes: 'long-line-without-end', terminated: false },
  ];
  for (const size of [1, 2, 3, 5, 8, 13, text.length]) {
    async function* chunks() {
      for (let i = 0; i < text.length; i += size) yield text.subarray(i, i + size);
    }
    const lines = [];
    for await (const line of byteLines(chunks())) lines.push({ ...line, bytes: line.bytes.toString() });
    t.deepEqual(lines, expected, `chunks of ${size}`);
  }
});

test('gate decisions: CSV fields quoted per RFC 4180, values unaltered', (t) => {
  t.is(csvField('plain'), 'plain');
  t.is(csvField('a,b'), '"a,b"');
  t.is(csvField('say "hi"'), '"say ""hi"""');
  t.is(csvField('two\nlines'), '"two\nlines"');
  t.is(csvField(' padded'), '" padded"');
  t.is(csvField('=SUM(A1)'), '=SUM(A1)');
  t.is(csvField(null), '');
  t.is(csvField(true), 'true');
  const decision = toGateDecision(
    {
      ...event(1),
      type: 'gate_rejected',
      stage: 'review',
      status: 'paused',
      actor: 'alice',
      payload: { gate: 'review', comment: 'not "ready", sorry', reason: null, by_timer: false },
    } as JobEvent & { type: 'gate_rejected' },
    'external',
  );
  t.is(decision.decision, 'rejected');
  t.is(
    gateDecisionCsvHeader(),
    'time,job_id,pipeline,stage,gate,decision,actor,by_timer,comment,reason,position,event_id\r\n',
  );
  t.is(
    gateDecisionCsvRow(decision),
    '2026-11-24T10:00:00.123Z,j1,external,review,review,rejected,alice,false,"not ""ready"", sorry",,101,e1\r\n',
  );
});
