import test from 'ava';
import { reportFailure } from '../../../src/cli/reportFailure.ts';

/** What reportFailure prints and returns, stderr captured. */
function report(error: unknown): { code: number; stderr: string } {
  let stderr = '';
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: reportFailure(error), stderr };
  } finally {
    process.stderr.write = write;
  }
}

const systemError = (code: string, syscall: string, path: string) =>
  Object.assign(new Error(`${code}: something, ${syscall} '${path}'`), { code, syscall, path, errno: -1 });

test('what the system refused (read-only, permissions, a directory for a file) is one line with the path, exit 1, no stack', (t) => {
  for (const [code, reason] of [
    ['EROFS', 'read-only file system'],
    ['EACCES', 'permission denied'],
    ['EISDIR', 'is a directory, a file was expected'],
    ['ENOSPC', 'no space left on the device'],
  ] as const) {
    const { code: exit, stderr } = report(systemError(code, 'open', '/data/store/lock.mdb'));
    t.is(exit, 1);
    t.is(stderr, `operator: /data/store/lock.mdb: ${reason} (${code} on open)\n`);
  }
});

test('anything else unexpected keeps its stack (a bug to report)', (t) => {
  const { code, stderr } = report(new TypeError('x is undefined'));
  t.is(code, 1);
  t.regex(stderr, /^operator: unexpected error: TypeError: x is undefined\n\s+at /);
});
