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

/** Which layers each layer may import (besides itself). Dependencies point inward. */
const allowed: Record<string, readonly string[]> = {
  domain: [],
  infra: ['domain'],
  commands: ['domain', 'infra'],
  projections: ['domain', 'infra'],
  runner: ['domain', 'infra', 'commands', 'projections', 'api'],
  webhooks: ['domain', 'infra', 'projections', 'api'],
  audit: ['domain', 'infra'],
  api: ['domain', 'infra', 'commands', 'projections', 'audit', 'webhooks', 'runner'],
  app: ['domain', 'infra', 'commands', 'projections', 'api', 'runner', 'webhooks', 'audit'],
  cli: ['domain', 'infra', 'commands', 'projections', 'api', 'app', 'runner', 'webhooks', 'audit'],
  ui: [],
};

test('dependencies point inward: each layer imports only the layers it may', (t) => {
  const violations: string[] = [];
  const files = sourceFiles(src);
  t.true(files.length > 20);
  for (const file of files) {
    const layer = layerOf(file);
    const may = allowed[layer];
    if (!may) {
      violations.push(`${relative(root, file)}: src/${layer} is not a known layer`);
      continue;
    }
    for (const target of importedLayers(file)) {
      if (target !== layer && !may.includes(target))
        violations.push(`${relative(root, file)} imports src/${target}`);
    }
  }
  t.deepEqual(violations, []);
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
