// Summarises V8 CPU profiles (`node --cpu-prof`, e.g. from `npm run bench -- --profile`): the functions with
// the most self time and the most inclusive time, as shares of the non-idle samples. Heap snapshots
// (.heapsnapshot) are summarised by constructor: count and self size of each, largest first.
// Run: node --import tsx bench/profileSummary.ts <file.cpuprofile | file.heapsnapshot | dir> [--top 15]
// With `--against <bare.heapsnapshot> --per <connections>`, each heap snapshot is also compared with the
// baseline's: objects per connection over the baseline's, by constructor (the per-connection cost).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { REPO_ROOT } from './lib/nodeChild.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

export interface FrameShare {
  frame: string;
  self: number;
  inclusive: number;
}

const IDLE = new Set(['(idle)', '(program)', '(root)']);

function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url
    ? `${relative(REPO_ROOT, url.replace(/^file:\/\//, '')).replace(/^node_modules\//, '')}:${lineNumber + 1}`
    : '';
  return `${functionName || '(anonymous)'}${where ? ` ${where}` : ''}`;
}

/** Self and inclusive sample shares per function (recursion counted once per sample). */
export function summariseProfile(profile: CpuProfile): {
  frames: FrameShare[];
  busySamples: number;
  seconds: number;
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (!node || IDLE.has(node.callFrame.functionName)) continue;
    busy++;
    const name = frameName(node);
    self.set(name, (self.get(name) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (!n || n.callFrame.functionName === '(root)') continue;
      const key = frameName(n);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + 1);
    }
  }
  const frames = [...inclusive.keys()].map((frame) => ({
    frame,
    self: (self.get(frame) ?? 0) / Math.max(1, busy),
    inclusive: (inclusive.get(frame) ?? 0) / Math.max(1, busy),
  }));
  return { frames, busySamples: busy, seconds: (profile.endTime - profile.startTime) / 1e6 };
}

async function profilesIn(path: string): Promise<string[]> {
  if (!(await stat(path)).isDirectory()) return [path];
  const out: string[] = [];
  for (const name of await readdir(path)) out.push(...(await profilesIn(join(path, name))));
  return out.filter((p) => p.endsWith('.cpuprofile') || p.endsWith('.heapsnapshot'));
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size and count per (node type, constructor or name), largest first. */
export function summariseHeap(heap: HeapSnapshot): { group: string; count: number; bytes: number }[] {
  const fields = heap.snapshot.meta.node_fields;
  const types = heap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt] as number] ?? '?';
    const name =
      type === 'object' || type === 'closure' ? (heap.strings[heap.nodes[i + nameAt] as number] ?? '?') : '';
    const key = name ? `${type} ${name.slice(0, 60)}` : type;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += heap.nodes[i + sizeAt] as number;
    groups.set(key, g);
  }
  return [...groups.entries()].map(([group, g]) => ({ group, ...g })).sort((a, b) => b.bytes - a.bytes);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '15' },
    against: { type: 'string' },
    per: { type: 'string' },
  },
});
const against = values.against
  ? summariseHeap(JSON.parse(await readFile(values.against, 'utf8')) as HeapSnapshot)
  : null;

/** Objects per connection over the baseline's, by group, the largest differences first. */
function perConnection(groups: { group: string; count: number; bytes: number }[], connections: number): void {
  const base = new Map((against ?? []).map((g) => [g.group, g]));
  const rows = groups
    .map((g) => ({
      group: g.group,
      count: (g.count - (base.get(g.group)?.count ?? 0)) / connections,
      bytes: (g.bytes - (base.get(g.group)?.bytes ?? 0)) / connections,
    }))
    .filter((r) => Math.abs(r.count) >= 0.5 || Math.abs(r.bytes) >= 16)
    .sort((a, b) => b.bytes - a.bytes);
  const total = rows.reduce((a, r) => a + r.bytes, 0);
  console.log(`
per connection over ${values.against} (${connections} connections): ${total.toFixed(0)} B in these rows
`);
  console.log('| objects | bytes | type and constructor |\n|--:|--:|---|');
  for (const r of rows.slice(0, top))
    console.log(`| ${r.count.toFixed(2)} | ${r.bytes.toFixed(0)} | \`${r.group}\` |`);
}
const top = Number(values.top);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
for (const path of (await Promise.all(positionals.map(profilesIn))).flat()) {
  if (path.endsWith('.heapsnapshot')) {
    const groups = summariseHeap(JSON.parse(await readFile(path, 'utf8')) as HeapSnapshot);
    const total = groups.reduce((a, g) => a + g.bytes, 0);
    console.log(
      `\n### ${relative(REPO_ROOT, path)}\n${(total / 2 ** 20).toFixed(1)} MiB of V8 heap objects\n`,
    );
    console.log('| bytes | count | bytes each | type and constructor |\n|--:|--:|--:|---|');
    for (const g of groups.slice(0, top))
      console.log(
        `| ${(g.bytes / 2 ** 20).toFixed(2)} MiB | ${g.count} | ${Math.round(g.bytes / g.count)} | \`${g.group}\` |`,
      );
    if (against && values.per && path !== values.against) perConnection(groups, Number(values.per));
    continue;
  }
  const profile = JSON.parse(await readFile(path, 'utf8')) as CpuProfile;
  const { frames, busySamples, seconds } = summariseProfile(profile);
  const busyShare = busySamples / Math.max(1, profile.samples.length);
  console.log(
    `\n### ${relative(REPO_ROOT, path)}\n${seconds.toFixed(1)} s profiled, busy ${pct(busyShare)} of samples\n`,
  );
  console.log('| self | function |\n|--:|---|');
  for (const f of [...frames].sort((a, b) => b.self - a.self).slice(0, top))
    console.log(`| ${pct(f.self)} | \`${f.frame}\` |`);
  console.log('\n| inclusive | function |\n|--:|---|');
  for (const f of [...frames].sort((a, b) => b.inclusive - a.inclusive).slice(0, top))
    console.log(`| ${pct(f.inclusive)} | \`${f.frame}\` |`);
}
