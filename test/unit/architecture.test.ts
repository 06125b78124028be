import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import test from 'ava';

const root = resolve(import.meta.dirname, '../..');
const src = join(root, 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** The top-level folder under src/ of every relative import of a file. */
function importedLayers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const layers: string[] = [];
  for (const match of text.matchAll(
    /(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
  )) {
    const target = resolve(join(file, '..'), (match[1] ?? match[2]) as string);
    const rel = relative(src, target);
    if (!rel.startsWith('..')) layers.push(rel.split('/')[0] as string);
  }
  return layers;
}

const layerOf = (file: string) => relative(src, file).split('/')[0] as string;

/**
 * Each room's rank: a file may import its own room and rooms of a lower rank, never a higher one and never
 * a peer of the same rank (peers stay independent). `ui` is served as static files and imports nothing.
 */
const rank: Record<string, number> = {
  domain: 0,
  infra: 1,
  projections: 2,
  audit: 3,
  retention: 3,
  runner: 3,
  webhooks: 3,
  api: 4,
  server: 5,
  cli: 6,
};

test('dependencies point inward: no import runs from a lower room to a higher one or across peers', (t) => {
  const violations: string[] = [];
  const files = sourceFiles(src);
  t.true(files.length > 20);
  for (const file of files) {
    const layer = layerOf(file);
    const own = rank[layer];
    if (own === undefined) {
      violations.push(`${relative(root, file)}: src/${layer} is not a known room`);
      continue;
    }
    for (const target of importedLayers(file)) {
      if (target === layer) continue;
      const theirs = rank[target];
      if (theirs === undefined || theirs >= own)
        violations.push(`${relative(root, file)} imports src/${target}`);
    }
  }
  t.deepEqual(violations, []);
});

test('ui imports only itself (it is served as is, without a build)', (t) => {
  const uiFiles = readdirSync(join(src, 'ui')).filter((n) => n.endsWith('.js'));
  const outside = uiFiles.filter((name) =>
    [...readFileSync(join(src, 'ui', name), 'utf8').matchAll(/from\s+['"]([^'"]+)['"]/g)].some(
      (m) => !(m[1] as string).startsWith('./'),
    ),
  );
  t.true(uiFiles.length > 5);
  t.deepEqual(outside, []);
});

test('the rank table is not loosened: every room of src/ has a rank, and no rank allows an upward import', (t) => {
  const rooms = readdirSync(src).filter((n) => statSync(join(src, n)).isDirectory() && n !== 'ui');
  t.deepEqual(
    rooms.filter((r) => rank[r] === undefined),
    [],
  );
  t.is(rank.domain, 0);
  t.true((rank.cli as number) > (rank.server as number) && (rank.server as number) > (rank.api as number));
});

test('the domain is pure: no node: built-ins and no I/O packages', (t) => {
  const offenders = sourceFiles(join(src, 'domain')).filter((file) =>
    /from\s+['"](node:|lmdb|koa|pino|yaml)/.test(readFileSync(file, 'utf8')),
  );
  t.deepEqual(
    offenders.map((f) => relative(root, f)),
    [],
  );
});
