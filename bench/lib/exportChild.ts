// Export of the whole log as NDJSON of canonical events, streamed from the store's readAll to a file with
// backpressure: the measurement used when the operator CLI has no `events export`.
// Run: node --import tsx bench/lib/exportChild.ts --store <dir> --out <file> [--max-count <n>]

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { toCanonicalJson } from '../../src/domain/events.ts';
import { toJobEvent } from '../../src/infra/eventstore/jobEvents.ts';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';

const { values } = parseArgs({
  options: { store: { type: 'string' }, out: { type: 'string' }, 'max-count': { type: 'string' } },
});
if (!values.store || !values.out) throw new Error('--store and --out are required');
const store = await openLmdbEventStore({ path: values.store });
const file = createWriteStream(values.out);
let events = 0;
const maxCount = values['max-count'] === undefined ? undefined : Number(values['max-count']);
for await (const recorded of store.readAll({ maxCount })) {
  if (!file.write(`${toCanonicalJson(toJobEvent(recorded))}\n`)) await once(file, 'drain');
  events++;
}
file.end();
await once(file, 'finish');
await store.close();
process.stderr.write(`exported ${events} events to ${values.out}\n`);
