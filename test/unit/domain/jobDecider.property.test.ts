import assert from 'node:assert/strict';
import test from 'ava';
import fc from 'fast-check';
import type { JobCommand } from '../../../src/domain/commands.ts';
import { type ErrorKind, isOperatorError } from '../../../src/domain/errors.ts';
import { eventPayloadSchemas, typedJobEventSchema } from '../../../src/domain/eventCatalogue.ts';
import { type EventType, isTerminal, newJobEventSchema } from '../../../src/domain/events.ts';
import { decide, evolve, initialState, nextStage, runningStage } from '../../../src/domain/jobDecider.ts';
import type { JobState } from '../../../src/domain/jobState.ts';
import {
  at,
  cmd,
  lastStageGatedPipeline,
  record,
  rerunPipeline,
  samplePipeline,
} from '../../helpers/decider.ts';

const weighted = (weight: number, command: JobCommand) => ({ weight, arbitrary: fc.constant(command) });

/** What a runner and its users would send, mostly useful moves, some nonsense, few terminal ones. */
const commandArb = fc.oneof(
  weighted(2, cmd.startJob()),
  ...['script', 'storyboard', 'render'].flatMap((stage) => [
    weighted(6, cmd.startStage(stage)),
    weighted(6, cmd.completeStage(stage, { duration_ms: 1500 })),
    weighted(2, cmd.failStage(stage)),
    weighted(1, cmd.failStage(stage, 'bad input', { retryable: false })),
  ]),
  ...['storyboard', 'render'].flatMap((gate) => [
    weighted(4, cmd.approveGate(gate, 'alice', 'ok')),
    weighted(2, cmd.autoApproveGate(gate)),
    weighted(2, cmd.rejectGate(gate, 'bob', 'no')),
    weighted(1, { ...cmd.rejectGate(gate), actor: 'timer', by_timer: true }),
  ]),
  weighted(1, cmd.startStage('mix')),
  weighted(1, cmd.approveGate('script')),
  weighted(1, cmd.createJob()),
  weighted(1, cmd.failJob()),
  weighted(1, cmd.cancelJob()),
  weighted(3, cmd.resumeJob('try again')),
);

/**
 * A step is either any command, or the move a runner and a reviewer would make next in the current state
 * (`choice` picks between success and failure): random commands alone rarely get a job far.
 */
type Step = { kind: 'any'; command: JobCommand } | { kind: 'next'; choice: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: commandArb.map((command) => ({ kind: 'any' as const, command })) },
  { weight: 2, arbitrary: fc.nat(9).map((choice) => ({ kind: 'next' as const, choice })) },
);

function nextMove(state: JobState, choice: number): JobCommand {
  const ok = choice >= 2;
  if (state.status === 'queued') return cmd.startJob();
  if (state.status === 'failed') return cmd.resumeJob('try again');
  if (state.status === 'paused' && state.paused_gate !== null) {
    if (choice === 9) return cmd.autoApproveGate(state.paused_gate);
    return ok
      ? cmd.approveGate(state.paused_gate, 'alice', 'ok')
      : cmd.rejectGate(state.paused_gate, 'bob', 'no');
  }
  const running = runningStage(state);
  if (running) return ok ? cmd.completeStage(running.name) : cmd.failStage(running.name);
  return cmd.startStage(nextStage(state)?.name ?? 'script');
}

const scenarioArb = fc.record({
  pipeline: fc.constantFrom(samplePipeline, rerunPipeline, lastStageGatedPipeline),
  maxEvents: fc.integer({ min: 4, max: 40 }),
  steps: fc.array(stepArb, { maxLength: 80, size: 'max' }),
});

// Plain assertions throw, so fast-check sees a failure and shrinks it to a minimal command sequence.
/** What a decider may say when it refuses: the state forbids it, the command names nothing real, no job. */
const DECIDER_REFUSALS: ReadonlySet<ErrorKind> = new Set(['conflict', 'unprocessable', 'not_found']);

test('random command sequences are refused only with OperatorErrors and fold to a consistent state', (t) => {
  const seenTypes = new Set<EventType>();
  fc.assert(
    fc.property(scenarioArb, ({ pipeline, maxEvents, steps }) => {
      const options = { maxEventsPerJob: maxEvents };
      let state: JobState = initialState();
      const sequence: Step[] = [{ kind: 'any', command: cmd.createJob(pipeline) }, ...steps];
      for (const [i, step] of sequence.entries()) {
        const move = step.kind === 'any' ? step.command : nextMove(state, step.choice);
        const command = { ...move, ts: at(i) } as JobCommand;
        const before = structuredClone(state);
        let events: ReturnType<typeof decide>;
        try {
          events = decide(command, state, options);
        } catch (error) {
          if (!isOperatorError(error)) throw error;
          assert.ok(DECIDER_REFUSALS.has(error.kind), `${error.code} is a refusal, not ${error.kind}`);
          continue;
        } finally {
          assert.deepEqual(state, before, 'decide leaves the state alone');
        }
        if (state.status !== 'none' && isTerminal(state.status))
          assert.ok(
            state.status === 'failed' && command.type === 'resume_job',
            'a terminal job accepts only resume',
          );
        assert.ok(events.length > 0, 'an accepted command produces events');
        for (const event of events) {
          newJobEventSchema.parse(event);
          assert.equal(event.ts, command.ts);
          assert.equal(event.actor, command.actor);
        }
        const recorded = record(events, state.seq + 1);
        for (const event of recorded) {
          typedJobEventSchema.parse(event);
          seenTypes.add(event.type);
          const catalogued = Object.keys(eventPayloadSchemas[event.type].shape);
          const fromClient = Object.keys('payload' in command ? (command.payload ?? {}) : {});
          for (const key of Object.keys(event.payload))
            assert.ok(
              catalogued.includes(key) || fromClient.includes(key),
              `${event.type}.${key} is in the event catalogue`,
            );
        }
        state = recorded.reduce(evolve, state);
        assert.equal(state.event_count, state.seq + 1, 'event_count === seq + 1');
        assert.ok(state.event_count <= maxEvents, 'the stream never passes max_events_per_job');
        assert.equal(state.status, events.at(-1)?.status, 'the job status is the status of its last event');
        assert.ok(
          state.stages.filter((st) => st.status === 'running').length <= 1,
          'one stage runs at a time',
        );
        assert.equal(
          state.status === 'paused',
          state.paused_gate !== null && state.gates[state.paused_gate]?.status === 'paused',
          'a paused job is paused at a paused gate',
        );
      }
    }),
    { numRuns: 400 },
  );
  // Every decider-written event matched its catalogue schema; make sure every type was written at least once.
  t.deepEqual([...seenTypes].sort(), Object.keys(eventPayloadSchemas).sort());
});
