#!/usr/bin/env node
// The `operator` command. It runs the TypeScript sources with no build step to remember: on the first start
// after any change under src/ it bundles them with esbuild into node_modules/.cache/operator/<fingerprint>/,
// one chunk per command, with source maps, and runs that. A start then loads a few files instead of sending
// each of some 250 modules through tsx's loader: `operator jobs --help` takes about a third of the time,
// `operator serve` under half. Where no bundle can be made (a read-only node_modules, esbuild missing), or
// with OPERATOR_NO_BUNDLE=1, it runs the sources through tsx as before (decision 0015).
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const cache = join(root, 'node_modules', '.cache', 'operator');
/** A bundle no start used for this long is removed when a new one is made. */
const KEEP_MS = 7 * 86_400_000;

/**
 * Every file under src/ by path, size and mtime, with this launcher, the lock file and tsconfig.json (esbuild
 * reads it): a new bundle when any of them changes.
 */
function fingerprint() {
  const hash = createHash('sha256');
  const add = (path) => {
    const s = statSync(path);
    hash.update(`${relative(root, path)}\0${s.size}\0${s.mtimeMs}\n`);
  };
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else add(path);
    }
  };
  walk(src);
  add(fileURLToPath(import.meta.url));
  for (const file of ['package-lock.json', 'tsconfig.json'])
    if (existsSync(join(root, file))) add(join(root, file));
  return hash.digest('hex').slice(0, 16);
}

/**
 * A module's own `import.meta.url` kept as its source file's URL, so what it finds beside itself (the UI's
 * files, the `.ts` entry points of the worker thread and of the stage reaper, which run through tsx) is
 * found from the bundle as from the sources.
 */
const sourceUrls = {
  name: 'source-urls',
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const text = readFileSync(args.path, 'utf8');
      const contents = text.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
      return { contents, loader: args.path.endsWith('ts') ? 'ts' : 'js' };
    });
  },
};

/** The bundle's entry for this fingerprint, made first when missing; null when it cannot be made. */
async function bundledEntry() {
  try {
    const dir = join(cache, fingerprint());
    const entry = join(dir, 'main.mjs');
    if (existsSync(entry)) {
      markUsed(dir);
      return entry;
    }
    mkdirSync(cache, { recursive: true });
    // Made aside and renamed whole: a start beside this one sees no bundle or all of it.
    const aside = `${dir}.${process.pid}.tmp`;
    const esbuild = await import('esbuild');
    await esbuild.build({
      entryPoints: [join(src, 'cli', 'main.ts')],
      outdir: aside,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
      sourcemap: 'linked',
      plugins: [sourceUrls],
    });
    try {
      renameSync(aside, dir);
    } catch (error) {
      rmSync(aside, { recursive: true, force: true });
      if (!existsSync(entry)) throw error; // else another start made the same bundle first
    }
    removeOldBundles(dir);
    return entry;
  } catch {
    return null;
  }
}

/**
 * A bundle's directory mtime says when a start last used it (renewed at most daily): the pruning below
 * never takes one that a start used this week, so a long-running `operator serve` keeps its lazy chunks.
 */
function markUsed(dir) {
  const now = Date.now();
  try {
    if (statSync(dir).mtimeMs < now - 86_400_000) utimesSync(dir, now / 1000, now / 1000);
  } catch {
    // a read-only cache: nothing is pruned there either
  }
}

/** Bundles (and copies left by a start killed while bundling) no start used for a week; best effort. */
function removeOldBundles(keep) {
  const before = Date.now() - KEEP_MS;
  let names = [];
  try {
    names = readdirSync(cache);
  } catch {
    // nothing to prune
  }
  for (const name of names) {
    const path = join(cache, name);
    try {
      if (path !== keep && statSync(path).mtimeMs < before) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed by a start beside this one
    }
  }
}

const entry = process.env.OPERATOR_NO_BUNDLE === '1' ? null : await bundledEntry();
if (entry) {
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
