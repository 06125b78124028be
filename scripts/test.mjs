#!/usr/bin/env node
// Runs every check of the project: lint and types beside each ava tier over TAP, and ends with the one
// plain line CI reads: `N passed, N failed, N skipped`. Exit code is non-zero on any failure.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2); // e.g. `npm test -- unit e2e`
const tiers = ['unit', 'contract', 'integration', 'e2e', 'security', 'browser'];
const totals = { passed: 0, failed: 0, skipped: 0 };
/** The project's own tools, started directly: through npx each start costs about half a second of CPU more. */
const bin = (name) => join(root, 'node_modules', '.bin', name);
const failures = [];

function listTests(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Runs one check beside the tiers; its output is printed whole when it ends, so lines stay together. */
function runStep(name, cmd, args) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = [];
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
    child.on('close', (code) => {
      process.stdout.write(Buffer.concat(output));
      record(name, code === 0, Date.now() - started);
      resolve();
    });
  });
}

function record(name, ok, ms) {
  if (ok) totals.passed += 1;
  else {
    totals.failed += 1;
    failures.push(name);
  }
  console.log(`${ok ? 'ok' : 'FAILED'}: ${name} (${(ms / 1000).toFixed(1)}s)`);
}

/** Debian packages some tiers drive, by the file each provides: chromium (browser), docker-compose (unit), prometheus (e2e). */
const DEBIAN_TOOLS = [
  ['/usr/bin/chromium', 'chromium'],
  ['/usr/bin/docker-compose', 'docker-compose'],
  ['/usr/bin/prometheus', 'prometheus'],
  ['/usr/bin/promtool', 'prometheus'],
];

/**
 * Installs the missing ones in one apt-get run before any tier starts (as root, as CI runs), so two tiers
 * running side by side never wait on each other for the dpkg lock. A tier whose tool is still missing
 * fails on its own, loudly.
 */
function ensureDebianTools() {
  const missing = [...new Set(DEBIAN_TOOLS.filter(([file]) => !existsSync(file)).map(([, pkg]) => pkg))];
  if (missing.length === 0 || process.getuid?.() !== 0) return;
  console.log(`installing Debian packages the tests drive: ${missing.join(', ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
}

const TMPFS_MAGIC = 0x01021994;

/**
 * Where the tiers' temp dirs go (LMDB stores, run dirs, browser profiles: every test makes its own under
 * os.tmpdir()): a RAM-backed tmpfs when the machine has one with room, else the usual place. The stores
 * sync every commit and the projections fsync every batch; on a disk that is sys CPU and waits for the
 * device, which no test observes (a kill -9 leaves the page cache as it was). The files stay real files. A
 * TMPDIR the caller set is kept. The dir is kept between runs, so tsx's transform cache (under os.tmpdir())
 * stays warm; what tests left in it more than a day ago is removed, as it uses memory (a run takes minutes,
 * so another run's dirs are never touched).
 */
function testTmpdir() {
  if (process.env.TMPDIR) return undefined;
  try {
    const shm = statfsSync('/dev/shm');
    if (shm.type !== TMPFS_MAGIC || shm.bavail * shm.bsize < 2 * 1024 ** 3) return undefined;
    const dir = join('/dev/shm', `operator-tests-${process.getuid?.() ?? 'user'}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const dayAgo = Date.now() - 86_400_000;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (!name.startsWith('tsx-') && lstatSync(path).mtimeMs < dayAgo)
        rmSync(path, { recursive: true, force: true });
    }
    return dir;
  } catch {
    return undefined;
  }
}
const tmpdir = testTmpdir();

function runTier(tier, files, label = tier) {
  return new Promise((resolve) => {
    const started = Date.now();
    const serial = tier === 'unit' || tier === 'contract' ? [] : ['--serial'];
    const child = spawn(bin('ava'), ['--tap', ...serial, ...files], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, OPERATOR_TEST_TIER: tier, ...(tmpdir ? { TMPDIR: tmpdir } : {}) },
    });
    const counts = { passed: 0, failed: 0, skipped: 0 };
    let buffer = '';
    const onLine = (line) => {
      if (/^not ok\b/.test(line)) {
        if (/# TODO/i.test(line)) counts.skipped += 1;
        else {
          counts.failed += 1;
          failures.push(`${label}: ${line}`);
        }
      } else if (/^ok\b/.test(line)) {
        if (/# (SKIP|TODO)/i.test(line)) counts.skipped += 1;
        else counts.passed += 1;
      }
    };
    const output = [];
    child.stdout.on('data', (chunk) => {
      output.push(chunk);
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    child.on('close', (code) => {
      // Tiers run side by side: each prints its TAP output whole, when it ends, so the lines stay together.
      process.stdout.write(Buffer.concat(output));
      if (buffer) onLine(buffer);
      if (code !== 0 && counts.failed === 0) {
        counts.failed += 1;
        failures.push(`${label}: ava exited with code ${code} without a failing test line`);
      }
      totals.passed += counts.passed;
      totals.failed += counts.failed;
      totals.skipped += counts.skipped;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `tier ${label}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${secs}s)`,
      );
      resolve();
    });
  });
}

const wants = (name) => only.length === 0 || only.includes(name);

/**
 * The tiers' files in parts, longest first (from the suite's own timings): the integration tier's CLI files,
 * each of which starts the real `operator` binary many times, are a part of their own.
 */
const isCli = (file) => file.includes('/test/integration/cli/');
const parts = [
  { tier: 'integration', label: 'integration (cli)', pick: isCli },
  { tier: 'integration', label: 'integration', pick: (f) => !isCli(f) },
  { tier: 'e2e', label: 'e2e', pick: () => true },
  { tier: 'security', label: 'security', pick: () => true },
  { tier: 'browser', label: 'browser', pick: () => true },
  { tier: 'unit', label: 'unit', pick: () => true },
  { tier: 'contract', label: 'contract', pick: () => true },
];

/**
 * Two lanes side by side (the machine has two cores, and most of a tier's time is spent waiting on
 * servers, child processes and timers) take the next part from the queue whenever they are free, longest
 * first, so they end close together. Within a part, files and tests run as before.
 */
async function runLane(queue) {
  for (let part = queue.shift(); part !== undefined; part = queue.shift()) {
    const files = listTests(join(root, 'test', part.tier))
      .filter(part.pick)
      .sort();
    if (files.length === 0) {
      console.log(`tier ${part.label}: no test files`);
      continue;
    }
    if (part.tier === 'browser' && !existsSync('/usr/bin/chromium')) {
      record('browser tier: /usr/bin/chromium is missing and could not be installed', false, 0);
      continue;
    }
    await runTier(part.tier, files, part.label);
  }
}

const testing = tiers.some(wants);
if (testing) ensureDebianTools();
if ([...new Set(parts.map((p) => p.tier))].sort().join() !== [...tiers].sort().join())
  throw new Error('every tier must have a part');
const queue = parts.filter((p) => wants(p.tier));
/** Lint and types run one after the other, beside the two lanes: the tiers spend most of their time waiting. */
async function runChecks() {
  if (wants('lint')) await runStep('lint (biome check)', bin('biome'), ['check', '.']);
  if (wants('types')) await runStep('types (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', '.']);
}
await Promise.all([runChecks(), runLane(queue), runLane(queue)]);

if (failures.length > 0) {
  console.log('\nfailures:');
  for (const f of failures) console.log(`  ${f}`);
}
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 ? 1 : 0);
