import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, Next } from 'koa';
import { notFound } from './errors.ts';
import { uiCatalogueModule } from './uiCatalogue.ts';

/** The bundled UI: plain files, no build step. */
export const UI_DIR = fileURLToPath(new URL('../ui/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
};

/** Same-origin only: the UI talks to this server and nothing else, and never runs inline script. */
const CSP =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Not a file: the UI imports the server's event catalogue as `./catalogue.js`, generated from the domain. */
export const UI_CATALOGUE_PATH = '/ui/catalogue.js';

/** The file a request names, or null when it is not a plain path inside the UI folder. */
function fileFor(root: string, path: string): string | null {
  if (path === '/') return resolve(root, 'index.html');
  if (!path.startsWith('/ui/')) return null;
  let relative: string;
  try {
    relative = decodeURIComponent(path.slice('/ui/'.length));
  } catch {
    return null;
  }
  const segments = relative.split(/[/\\]/);
  if (
    relative.includes('\0') ||
    segments.some((s) => s === '' || s === '.' || s === '..' || s.startsWith('.'))
  )
    return null;
  const file = resolve(root, ...segments);
  return file.startsWith(root.endsWith(sep) ? root : root + sep) ? file : null;
}

/** Answers with `body` (read only when the client's copy is stale), revalidated on every use. */
async function answer(ctx: Context, type: string, etag: string, body: () => Promise<Buffer | string>) {
  ctx.status = 200;
  // Revalidated, not `no-store` as the API's answers (`answerHeaders.ts`, which also sets nosniff).
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('ETag', etag);
  if (type.startsWith('text/html')) ctx.set('Content-Security-Policy', CSP);
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.type = type;
  ctx.body = await body();
}

/**
 * Serves `GET /` (index.html) and `GET /ui/*` from the UI folder with `Cache-Control: no-cache` and an
 * ETag, so a reload after a deploy always revalidates; `/ui/catalogue.js` is generated from the domain's
 * event catalogue when first asked for. Anything outside the folder, hidden, of an unknown type or missing
 * is a 404 in the usual JSON error shape; other paths go on to the API router.
 */
export function staticUi(root: string = UI_DIR) {
  const base = resolve(root);
  let catalogue: ReturnType<typeof uiCatalogueModule> | undefined;
  return async (ctx: Context, next: Next): Promise<void> => {
    const isUiPath = ctx.path === '/' || ctx.path === '/ui' || ctx.path.startsWith('/ui/');
    if (!isUiPath || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    if (ctx.path === UI_CATALOGUE_PATH) {
      catalogue ??= uiCatalogueModule();
      const { source, etag } = catalogue;
      return answer(ctx, CONTENT_TYPES['.js'] as string, etag, async () => source);
    }
    const file = fileFor(base, ctx.path);
    const type = file ? CONTENT_TYPES[extname(file)] : undefined;
    const info = file && type ? await stat(file).catch(() => null) : null;
    if (!file || !type || !info?.isFile()) throw notFound(`no UI file at ${ctx.path}`);
    const etag = `W/"${info.size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
    return answer(ctx, type, etag, () => readFile(file));
  };
}
