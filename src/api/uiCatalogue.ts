import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { eventPayloadSchemas } from '../domain/eventCatalogue.ts';
import { EVENT_TYPES, type EventType, JOB_STATUSES, TERMINAL_STATUSES } from '../domain/events.ts';

/** One payload field of an event type, as the catalogue lists it. */
export interface PayloadField {
  name: string;
  /** The decider may leave it out. */
  optional: boolean;
  /** The field's one-line doc: its schema's `.describe()`. */
  doc: string;
}

/** What the UI needs of the domain's catalogue, as plain data. */
export interface UiCatalogue {
  EVENT_TYPES: readonly EventType[];
  EVENT_FIELDS: Record<EventType, PayloadField[]>;
  JOB_STATUSES: readonly string[];
  TERMINAL_STATUSES: readonly string[];
}

function fieldsOf(type: EventType): PayloadField[] {
  const shape = eventPayloadSchemas[type].shape as Record<string, z.ZodType>;
  return Object.entries(shape).map(([name, schema]) => ({
    name,
    optional: schema.isOptional(),
    doc: schema.description ?? '',
  }));
}

/** The catalogue read from the domain modules, every time: there is no copy to fall behind. */
export function uiCatalogue(): UiCatalogue {
  return {
    EVENT_TYPES: [...EVENT_TYPES],
    EVENT_FIELDS: Object.fromEntries(EVENT_TYPES.map((type) => [type, fieldsOf(type)])) as Record<
      EventType,
      PayloadField[]
    >,
    JOB_STATUSES: [...JOB_STATUSES],
    TERMINAL_STATUSES: [...TERMINAL_STATUSES],
  };
}

/*
 * The module's one function, in plain JavaScript: the browser runs it as served. A name the catalogue does
 * not list throws, so a renamed field fails loudly in the page (and in its browser tests) instead of
 * reading as absent.
 */
const PAYLOAD_FIELD = `
/** The value of a catalogued payload field of an event; a name the catalogue does not list for its type throws. */
export function payloadField(event, name) {
  const fields = EVENT_FIELDS[event.type];
  if (!fields || !fields.some((field) => field.name === name))
    throw new Error(\`the event catalogue has no payload field \${name} for \${event.type}\`);
  return event.payload == null ? undefined : event.payload[name];
}
`;

/** The ES module the UI imports as `./catalogue.js`, with its ETag. */
export function uiCatalogueModule(catalogue: UiCatalogue = uiCatalogue()): { source: string; etag: string } {
  const constants = Object.entries(catalogue).map(
    ([name, value]) => `export const ${name} = freeze(${JSON.stringify(value, null, 2)});`,
  );
  const source = [
    "// The server's event catalogue (src/domain/eventCatalogue.ts, src/domain/events.ts), generated when the",
    '// server starts. There is no file to edit: change the domain and reload.',
    '',
    '/** @template T @param {T} value @returns {Readonly<T>} */',
    'const freeze = (value) => {',
    "  if (value !== null && typeof value === 'object') for (const v of Object.values(value)) freeze(v);",
    '  return Object.freeze(value);',
    '};',
    '',
    ...constants,
    PAYLOAD_FIELD,
  ].join('\n');
  const etag = `W/"${createHash('sha256').update(source).digest('hex').slice(0, 16)}"`;
  return { source, etag };
}
