import { parentPort, workerData } from 'node:worker_threads';
import type { JobEvent } from '../../domain/events.ts';
// Not the projections' index: a thread starts faster loading only what it runs.
import { GenerationBuilder } from '../generationBuilder.ts';
import { parseCanonicalJson } from '../jobFold.ts';
import { ReadModelStore } from '../readModelStore.ts';
import type { GenerationReply, GenerationRequest, GenerationThreadData } from './generationWorker.ts';
import { StagedStateFiles } from './stagedStateFiles.ts';

/**
 * The worker thread of `GenerationWorker`: fills one read model generation with a `GenerationBuilder`
 * from the canonical JSON lines the rebuild sends, one request at a time, one reply per request; with a
 * `stateDir`, writes the state files there from the same folds.
 */
const data = workerData as GenerationThreadData;
const port = parentPort;
if (!port) throw new Error('generationThread runs in a worker thread');
const store = ReadModelStore.open(data.dataDir);
const stateFiles = data.stateDir ? new StagedStateFiles(data.stateDir) : null;
const builder = new GenerationBuilder({
  store,
  generation: data.generation,
  onJobFolded: stateFiles ? (jobId, fold) => stateFiles.add(jobId, fold) : undefined,
});
let queue: Promise<void> = Promise.resolve();

port.on('message', (request: GenerationRequest) => {
  queue = queue.then(() => handle(request));
});

async function handle(request: GenerationRequest): Promise<void> {
  try {
    port?.postMessage(await answer(request));
  } catch (error) {
    const e = error as Error;
    port?.postMessage({ kind: 'failed', message: e.message, stack: e.stack } satisfies GenerationReply);
  }
}

async function answer(request: GenerationRequest): Promise<GenerationReply> {
  switch (request.kind) {
    case 'apply':
      // Resolves once the previous batch is committed, its folds queued: their files are written while
      // this batch's transaction runs.
      await builder.apply(parseLines(request.lines));
      stateFiles?.writeQueued();
      return { kind: 'applied' };
    case 'flush':
      await builder.flush();
      stateFiles?.writeQueued();
      return { kind: 'flushed', checkpoint: await builder.checkpoint() };
    case 'close':
      await builder.close();
      await store.close();
      return { kind: 'closed' };
  }
}

/** One event per line, each keeping its text: the `events` row is that text, not a second serialisation. */
function parseLines(lines: string): JobEvent[] {
  const events: JobEvent[] = [];
  let start = 0;
  for (let end = lines.indexOf('\n'); end !== -1; end = lines.indexOf('\n', start)) {
    events.push(parseCanonicalJson(lines.slice(start, end)));
    start = end + 1;
  }
  return events;
}
