import { z } from 'zod';
import { errorBodySchema } from './errors.ts';
import type { AnyRoute } from './route.ts';
import { errorResponses } from './route.ts';

type JsonSchema = Record<string, unknown>;

const toSchema = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
};

function parametersOf(where: 'path' | 'query', schema: z.ZodType | undefined): JsonSchema[] {
  if (!schema) return [];
  const json = toSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: s,
  }));
}

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
export function buildOpenApi(
  routes: readonly AnyRoute[],
  info: { title: string; version: string },
): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const r of routes) {
    const operation: JsonSchema = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}${r.path.replace(/[{}]/g, '').replace(/\/(\w)/g, (_m, c: string) => c.toUpperCase())}`,
      parameters: [
        ...parametersOf('path', r.params),
        ...parametersOf('query', r.query),
        ...Object.entries(r.headers ?? {}).map(([name, description]) => ({
          name,
          in: 'header',
          required: false,
          description,
          schema: { type: 'string' },
        })),
      ],
      // Every route with a body reads it through the same limits (body.ts): its answers are documented here
      // once, for all of them (a route's own wording wins).
      responses: Object.fromEntries(
        Object.entries({ ...(r.body ? errorResponses(400, 413, 415) : {}), ...r.responses }).map(
          ([status, spec]) => {
            const schema = spec.schema ?? (Number(status) >= 400 ? errorBodySchema : undefined);
            const content = schema
              ? { [spec.contentType ?? 'application/json']: { schema: toSchema(schema, 'output') } }
              : spec.contentType
                ? { [spec.contentType]: { schema: { type: 'string' } } }
                : undefined;
            return [status, { description: spec.description, ...(content ? { content } : {}) }];
          },
        ),
      ),
    };
    // Public routes say so (`security: []`): an operation without the key would inherit nothing and read as
    // undocumented to linters and client generators.
    operation.security = r.role === 'public' ? [] : [{ bearer: [] }];
    if (r.body) {
      operation.requestBody = {
        required: false,
        content: { 'application/json': { schema: toSchema(r.body, 'input') } },
      };
    }
    paths[`/api/v1${r.path}`] ??= {};
    (paths[`/api/v1${r.path}`] as Record<string, JsonSchema>)[r.method] = operation;
  }
  return {
    openapi: '3.1.0',
    info,
    // The document is served by the server it describes: its own origin (paths carry the /api/v1 prefix).
    servers: [{ url: '/', description: 'this operator server (the origin that served this document)' }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'a token from auth.tokens; SSE also takes ?access_token=',
        },
      },
    },
    paths,
  };
}
