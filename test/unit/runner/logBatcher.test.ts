import test from 'ava';
import fc from 'fast-check';
import type { LogLine } from '../../../src/domain/logRecord.ts';
import { logBytes, logLineBytes, outputCutNote } from '../../../src/domain/logRecord.ts';
import type { LogBatcherOptions } from '../../../src/runner/logBatcher.ts';
import { LogBatcher } from '../../../src/runner/logBatcher.ts';

const TS = '2026-11-24T10:00:00.000Z';
const out = (text: string): LogLine => ({ ts: TS, stream: 'stdout', text });
const note = (text: string): LogLine => ({ ts: TS, stream: 'runner', text });

/** A batcher whose window timer fires only when the test says so. */
function harness(options: Partial<LogBatcherOptions> = {}) {
  const batches: LogLine[][] = [];
  const timers: (() => void)[] = [];
  const batcher = new LogBatcher({
    maxLines: 64,
    maxBytes: 16 * 1024,
    windowMs: 50,
    maxLogBytes: 64 * 1024 * 1024,
    now: () => new Date(TS),
    emit: (lines, bytes) => {
      if (bytes !== logBytes(lines)) throw new Error('bytes do not match the lines');
      batches.push(lines);
    },
    setTimer: (_ms, fn) => {
      timers.push(fn);
      return () => {
        const i = timers.indexOf(fn);
        if (i >= 0) timers.splice(i, 1);
      };
    },
    ...options,
  });
  const fire = () => {
    for (const fn of timers.splice(0)) fn();
  };
  return { batcher, batches, timers, fire };
}

test('log batcher: 64 lines make one batch at once, the 65th waits for the window', (t) => {
  const { batcher, batches, timers, fire } = harness();
  for (let i = 0; i < 65; i++) batcher.add(out(`line ${i}`));
  t.is(batches.length, 1);
  t.is(batches[0]?.length, 64);
  t.is(timers.length, 1, 'one window timer for the pending line, not one per line');
  fire();
  t.deepEqual(
    batches.map((b) => b.length),
    [64, 1],
  );
  t.deepEqual(batches[1], [out('line 64')]);
});

test('log batcher: 16 KiB of lines make one batch before 64 lines', (t) => {
  const { batcher, batches } = harness();
  const kib = 'x'.repeat(1024 - logLineBytes(out('')));
  for (let i = 0; i < 17; i++) batcher.add(out(kib));
  t.is(batches.length, 1);
  t.is(batches[0]?.length, 16);
  t.is(logBytes(batches[0] ?? []), 16 * 1024);
});

test('log batcher: a quiet stage’s lines go out when the window ends; flush hands over at once', (t) => {
  const { batcher, batches, timers, fire } = harness();
  batcher.add(out('a'));
  batcher.add(out('b'));
  t.is(batches.length, 0);
  fire();
  t.deepEqual(batches, [[out('a'), out('b')]]);
  batcher.add(out('c'));
  batcher.flush();
  t.deepEqual(batches[1], [out('c')]);
  t.is(timers.length, 0, 'flush cancels the window');
  batcher.flush();
  t.is(batches.length, 2, 'nothing pending: no empty batch');
});

test('log cap: past max_log_bytes one marker line, later output dropped and counted, runner notes kept', (t) => {
  const line = out('0123456789'); // 40 bytes in the line format
  const size = logLineBytes(line);
  const { batcher, batches } = harness({ maxLogBytes: 5 * size + 3 });
  const kept = Array.from({ length: 8 }, () => batcher.add(line));
  t.deepEqual(kept, [true, true, true, true, true, false, false, false]);
  t.true(batcher.add(note('exit code 0 after 1s')), 'the runner’s own notes pass the cap');
  t.false(batcher.add({ ...line, stream: 'stderr' }), 'stderr is output too');
  batcher.flush();
  const lines = batches.flat();
  t.deepEqual(lines.slice(0, 5), [line, line, line, line, line]);
  t.deepEqual(lines[5], note(outputCutNote(5 * size + 3)));
  t.is(lines[5]?.text, `[output cut at ${5 * size + 3} bytes]`);
  t.is(lines.filter((l) => l.text.startsWith('[output cut')).length, 1, 'one marker');
  t.deepEqual(lines[6], note('exit code 0 after 1s'));
  t.is(lines.length, 7);
  t.true(batcher.cut);
  t.is(batcher.droppedBytes, 4 * size);
});

test('log batcher (property): lines come out whole, in order, in bounded batches, output within the cap', (t) => {
  const lineArb = fc.record({
    stream: fc.constantFrom<LogLine['stream']>('stdout', 'stderr', 'runner'),
    text: fc.string({ maxLength: 300 }).map((s) => s.replace(/\n/g, ' ')),
  });
  fc.assert(
    fc.property(
      fc.array(fc.oneof(lineArb, fc.constant('tick' as const)), { maxLength: 400 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 64, max: 4096 }),
      fc.integer({ min: 1024, max: 40_000 }),
      (steps, maxLines, maxBytes, maxLogBytes) => {
        const { batcher, batches, fire } = harness({ maxLines, maxBytes, maxLogBytes });
        const added: { line: LogLine; kept: boolean }[] = [];
        for (const step of steps) {
          if (step === 'tick') fire();
          else {
            const line = { ts: TS, ...step };
            added.push({ line, kept: batcher.add(line) });
          }
        }
        batcher.flush();
        const lines = batches.flat();
        const expected: LogLine[] = [];
        let cutSeen = false;
        for (const { line, kept } of added) {
          if (kept) expected.push(line);
          else if (!cutSeen) {
            cutSeen = true;
            expected.push(note(outputCutNote(maxLogBytes)));
          }
        }
        if (JSON.stringify(lines) !== JSON.stringify(expected)) return false;
        for (const b of batches)
          if (b.length === 0 || b.length > maxLines || (b.length > 1 && logBytes(b.slice(0, -1)) >= maxBytes))
            return false;
        const output = lines.filter((l) => l.stream !== 'runner');
        return logBytes(output) <= maxLogBytes;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
