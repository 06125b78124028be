import test from 'ava';
import type { z } from 'zod';
import { uiCatalogueModule } from '../../../src/api/uiCatalogue.ts';
import { eventPayloadSchemas } from '../../../src/domain/eventCatalogue.ts';
import { EVENT_TYPES, JOB_STATUSES, TERMINAL_STATUSES } from '../../../src/domain/events.ts';

interface ServedCatalogue {
  EVENT_TYPES: readonly string[];
  EVENT_FIELDS: Record<string, { name: string; optional: boolean; doc: string }[]>;
  JOB_STATUSES: readonly string[];
  TERMINAL_STATUSES: readonly string[];
  payloadField(event: { type: string; payload?: Record<string, unknown> }, name: string): unknown;
}

/** The module exactly as the server sends it, loaded as the browser loads it: an ES module. */
async function served(): Promise<ServedCatalogue> {
  const { source } = uiCatalogueModule();
  return (await import(
    `data:text/javascript;base64,${Buffer.from(source).toString('base64')}`
  )) as ServedCatalogue;
}

test('the served module lists the domain event types and statuses, in the same order', async (t) => {
  const ui = await served();
  t.deepEqual([...ui.EVENT_TYPES], [...EVENT_TYPES]);
  t.deepEqual([...ui.JOB_STATUSES], [...JOB_STATUSES]);
  t.deepEqual([...ui.TERMINAL_STATUSES], [...TERMINAL_STATUSES]);
  t.deepEqual(Object.keys(ui.EVENT_FIELDS), [...EVENT_TYPES]);
});

test("each type's fields are the catalogue schema's keys, with its optional flag and its one-line doc", async (t) => {
  const ui = await served();
  for (const type of EVENT_TYPES) {
    const shape = eventPayloadSchemas[type].shape as Record<string, z.ZodType>;
    t.deepEqual(
      ui.EVENT_FIELDS[type]?.map((f) => f.name),
      Object.keys(shape),
      type,
    );
    for (const field of ui.EVENT_FIELDS[type] ?? []) {
      const schema = shape[field.name] as z.ZodType;
      t.is(field.optional, schema.safeParse(undefined).success, `${type}.${field.name} optional`);
      t.is(field.doc, schema.description ?? '(none)', `${type}.${field.name} doc`);
      t.regex(field.doc, /\S/, `${type}.${field.name} has a doc`);
      t.false(field.doc.includes('\n'), `${type}.${field.name} doc is one line`);
    }
  }
});

test('payloadField reads a catalogued field and throws on a name the catalogue does not list', async (t) => {
  const ui = await served();
  const failed = { type: 'stage_failed', payload: { reason: 'exit 2', other: 1 } };
  t.is(ui.payloadField(failed, 'reason'), 'exit 2');
  t.is(ui.payloadField({ type: 'stage_failed' }, 'reason'), undefined);
  t.throws(() => ui.payloadField(failed, 'other'), { message: /no payload field other for stage_failed/ });
  t.throws(() => ui.payloadField({ type: 'no_such_type', payload: {} }, 'reason'));
});

test('the served values are frozen, and the module and its ETag are the same on every build', async (t) => {
  const ui = await served();
  t.true(Object.isFrozen(ui.EVENT_TYPES));
  t.true(Object.isFrozen(ui.EVENT_FIELDS.job_failed?.[0]));
  t.deepEqual(uiCatalogueModule(), uiCatalogueModule());
});
