// The baseline of the rebuild: a raw readAll of the whole log, in its own process, nothing done with the events.
// Run: node --import tsx bench/lib/readAllChild.ts --store <dir>
import { parseArgs } from 'node:util';
import { openLmdbEventStore } from '../../src/infra/eventstore/lmdb/index.ts';
import { emit } from './rpc.ts';

const { values } = parseArgs({ options: { store: { type: 'string' } } });
if (!values.store) throw new Error('--store is required');
const store = await openLmdbEventStore({ path: values.store });
const t0 = performance.now();
let events = 0;
for await (const _ of store.readAll()) events++;
const readAllMs = performance.now() - t0;
await store.close();
emit('result', { events, readAllMs });
