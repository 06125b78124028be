import { parentPort, workerData } from 'node:worker_threads';
import type { JobEvent } from '../../domain/events.ts';
import type { JobState } from '../../domain/jobState.ts';
import { StorageFullError } from '../../infra/eventstore/storeErrors.ts';
import { isStorageFullFailure } from '../../infra/files/storageFull.ts';
import { commitFailureReason, isAnyLmdbCommitFailure } from '../../infra/lmdb/commitFailure.ts';
// Not the projections' index: a thread starts faster loading only what it runs.
import { GenerationBuilder } from '../generationBuilder.ts';
import { ReadModelStore } from '../readModelStore.ts';
import type { GenerationReply, GenerationRequest, GenerationThreadData } from './generationWorker.ts';

/**
 * The worker thread of `GenerationWorker`: fills one read model generation with a `GenerationBuilder`
 * from the canonical JSON lines the rebuild sends (with the job states its state files folded), one request
 * at a time, one reply per request.
 */
const data = workerData as GenerationThreadData;
const port = parentPort;
if (!port) throw new Error('generationThread runs in a worker thread');
// lmdb-js rejects promises of its own for a failed commit that nobody awaits (each write of it, its
// `commitError`); the transaction awaited here fails with the same commit and is answered as a failed
// request. Left alone they would end this thread first, with lmdb-js's wrapper instead of LMDB's reason.
process.on('unhandledRejection', (reason) => {
  if (isAnyLmdbCommitFailure(reason)) return;
  throw reason;
});
const store = ReadModelStore.open(data.dataDir);
const builder = new GenerationBuilder({ store, generation: data.generation });
let queue: Promise<void> = Promise.resolve();

port.on('message', (request: GenerationRequest) => {
  queue = queue.then(() => handle(request));
});

async function handle(request: GenerationRequest): Promise<void> {
  try {
    port?.postMessage(await answer(request));
  } catch (error) {
    const reason = await commitFailureReason(error);
    const e = reason as Error;
    const storageFull =
      reason instanceof StorageFullError || (await isStorageFullFailure(reason, store.path));
    port?.postMessage({
      kind: 'failed',
      message: e.message,
      stack: e.stack,
      storageFull,
    } satisfies GenerationReply);
  }
}

async function answer(request: GenerationRequest): Promise<GenerationReply> {
  switch (request.kind) {
    case 'apply': {
      const [events, texts] = parseLines(request.lines);
      const states = new Map(JSON.parse(request.states) as [string, JobState][]);
      await builder.apply(events, { texts, states });
      return { kind: 'applied' };
    }
    case 'flush':
      await builder.flush();
      return { kind: 'flushed', checkpoint: await builder.checkpoint() };
    case 'close':
      await builder.close();
      await store.close();
      return { kind: 'closed' };
  }
}

/**
 * One event per line, each with its text: the `events` row is that text, not a second serialisation. A
 * plain map per batch, not a weak map per event, whose entries cost the collector more.
 */
function parseLines(lines: string): [JobEvent[], Map<JobEvent, string>] {
  const events: JobEvent[] = [];
  const texts = new Map<JobEvent, string>();
  let start = 0;
  for (let end = lines.indexOf('\n'); end !== -1; end = lines.indexOf('\n', start)) {
    const text = lines.slice(start, end);
    const event = JSON.parse(text) as JobEvent;
    events.push(event);
    texts.set(event, text);
    start = end + 1;
  }
  return [events, texts];
}
