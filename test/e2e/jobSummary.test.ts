import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import test from 'ava';
import { jobSummarySchema } from '../../src/projections/index.ts';
import type { TestServer } from '../helpers/testServer.ts';
import { json, startTestServer } from '../helpers/testServer.ts';

/** The job summary: one zod schema, and the OpenAPI document describes every field the answers carry. */

type JsonSchema = { properties?: Record<string, unknown>; required?: string[]; [key: string]: unknown };
type Operation = { responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }> };
type OpenApi = { paths: Record<string, Record<string, Operation>> };

let server: TestServer;
let doc: OpenApi;
test.before(async () => {
  // With the runner, answers carry the queue facts too (queue_position, lane): they must be documented.
  server = await startTestServer({}, { runner: true });
  doc = await json<OpenApi>(await fetch(`${server.url}/api/v1/openapi.json`));
});
test.after.always(() => server?.stop());

const answerSchema = (path: string, method: string, status: string): JsonSchema => {
  const schema =
    doc.paths[`/api/v1${path}`]?.[method]?.responses[status]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`no ${status} schema for ${method} ${path}`);
  return schema;
};
const fieldsOf = (schema: JsonSchema) => Object.keys(schema.properties ?? {}).sort();
const zodFields = Object.keys(jobSummarySchema.shape).sort();

test('OpenAPI: GET /jobs/{id} documents exactly the fields of the zod job summary; listing rows the same without params; command answers the same', (t) => {
  const one = answerSchema('/jobs/{id}', 'get', '200');
  t.deepEqual(fieldsOf(one), zodFields);
  t.true(zodFields.length >= 20, `every field of the read model row: ${zodFields.join(', ')}`);
  t.is(one['additionalProperties'], false, 'an undocumented field fails validation');
  const list = answerSchema('/jobs', 'get', '200') as { properties: { jobs: { items: JsonSchema } } };
  t.deepEqual(
    fieldsOf(list.properties.jobs.items),
    zodFields.filter((f) => f !== 'params'),
  );
  const created = answerSchema('/jobs', 'post', '201') as { properties: { job: JsonSchema } };
  t.deepEqual(fieldsOf(created.properties.job), zodFields);
});

test('a real GET /jobs/{id} answer, a listing and a command answer validate against the OpenAPI schemas', async (t) => {
  const ajv = new Ajv2020({ strict: false });
  // A CommonJS module: its default import is `module.exports`, whose `default` is the plugin.
  ajvFormats.default(ajv);
  const validJob = ajv.compile(answerSchema('/jobs/{id}', 'get', '200'));
  const validList = ajv.compile(answerSchema('/jobs', 'get', '200'));
  const validCreated = ajv.compile(answerSchema('/jobs', 'post', '201'));

  const create = await server.api('/jobs', {
    method: 'POST',
    as: 'operator',
    json: { pipeline: 'external', params: { n: 1 } },
  });
  t.is(create.status, 201);
  const created = await json<{ job: Record<string, unknown> }>(create);
  t.true(validCreated(created), JSON.stringify(validCreated.errors));
  const id = created.job['job_id'] as string;

  const res = await server.api(`/jobs/${id}`);
  t.is(res.status, 200);
  const job = await json(res);
  t.true(validJob(job), JSON.stringify(validJob.errors));
  t.deepEqual(
    Object.keys(job).sort(),
    zodFields,
    'this server runs the runner: the answer carries every field, queue facts included',
  );
  t.like(job, { job_id: id, pipeline: 'external', params: { n: 1 }, stages_total: 3 });
  t.is(res.headers.get('etag'), `"${job['seq']}"`);

  const page = await json(await server.api('/jobs'));
  t.true(validList(page), JSON.stringify(validList.errors));

  // A field the schema does not name fails: the validation is not vacuous.
  t.false(validJob({ ...job, undocumented: true }));
  t.false(validJob({ ...job, seq: 'three' }));
});
