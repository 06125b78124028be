import type { EventData, RecordedEvent } from '../eventStore.ts';
import { InvalidEventStoreArgumentError } from '../storeErrors.ts';
import { formatPosition } from './positions.ts';

/** An event serialised before the write transaction starts, so nothing can throw half-way through it. */
export interface EncodedEvent {
  idJson: string;
  typeJson: string;
  dataJson: string;
  metadataJson: string;
}

/** The record stored under a position: short keys, JSON so that data reads back as it would from any store. */
interface StoredEvent {
  s: string;
  r: number;
  c: string;
  i: string;
  t: string;
  d: Record<string, unknown>;
  m: Record<string, unknown>;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function toJson(value: Record<string, unknown>, what: string): string {
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw new InvalidEventStoreArgumentError(`${what} is not serialisable as JSON: ${(e as Error).message}`);
  }
}

export function encodeEvent(event: EventData): EncodedEvent {
  if (typeof event?.id !== 'string' || event.id === '')
    throw new InvalidEventStoreArgumentError('event id must be a non-empty string');
  if (typeof event.type !== 'string' || event.type === '')
    throw new InvalidEventStoreArgumentError('event type must be a non-empty string', { id: event.id });
  if (!isPlainObject(event.data))
    throw new InvalidEventStoreArgumentError('event data must be an object', { id: event.id });
  if (event.metadata !== undefined && !isPlainObject(event.metadata))
    throw new InvalidEventStoreArgumentError('event metadata must be an object', { id: event.id });
  return {
    idJson: JSON.stringify(event.id),
    typeJson: JSON.stringify(event.type),
    dataJson: toJson(event.data, 'event data'),
    metadataJson: toJson(event.metadata ?? {}, 'event metadata'),
  };
}

export const storedEventJson = (
  streamJson: string,
  revision: number,
  created: string,
  e: EncodedEvent,
): string =>
  `{"s":${streamJson},"r":${revision},"c":"${created}","i":${e.idJson},"t":${e.typeJson},"d":${e.dataJson},"m":${e.metadataJson}}`;

export function decodeEvent(position: number, json: string): RecordedEvent {
  const r = JSON.parse(json) as StoredEvent;
  return {
    streamId: r.s,
    revision: r.r,
    position: formatPosition(position),
    id: r.i,
    type: r.t,
    data: r.d,
    metadata: r.m,
    created: r.c,
  };
}
