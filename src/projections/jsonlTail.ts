import type { FileHandle } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import { isUnsafeFileError, openPrivateFile } from '../infra/files/privateFile.ts';

const CHUNK = 64 * 1024;

export interface JsonlTail {
  /** seq of the last complete line; -1 for a missing or empty file. */
  lastSeq: number;
  exists: boolean;
  /** Bytes cut off the end: a torn (or unreadable) last line left by a crash. */
  truncatedBytes: number;
  /** Why what stood at the path (a link, a pipe, a directory a stage planted) was removed, unread. */
  removed?: string;
}

/**
 * Reads the seq of the last complete line of an `events.jsonl` and repairs the file's end: bytes after
 * the last newline are a write torn by a crash, and a last line that does not parse (e.g. zeros after a
 * power loss) is as good as torn; both are truncated away (and the truncation fsynced) so that the next
 * append starts on a line boundary. Lines before it are never touched.
 *
 * The run dir is writable by stage commands: anything but a regular file with one name at the path (a link
 * to a config file, whose "torn" lines would be cut off) is removed unread and counts as missing, so the
 * file is rewritten from the store.
 */
export async function repairJsonlTail(path: string): Promise<JsonlTail> {
  let handle: FileHandle;
  try {
    handle = await openPrivateFile(path, 'update', 'events.jsonl');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      return { lastSeq: -1, exists: false, truncatedBytes: 0 };
    if (!isUnsafeFileError(e) && (e as NodeJS.ErrnoException).code !== 'EISDIR') throw e;
    // Removes the planted name only: a link's target, a hard link's other name, are left as they are.
    await rm(path, { recursive: true, force: true });
    return { lastSeq: -1, exists: false, truncatedBytes: 0, removed: (e as Error).message };
  }
  try {
    const { size } = await handle.stat();
    let end = (await lastNewlineBefore(handle, size)) + 1;
    let lastSeq = -1;
    while (end > 0) {
      const start = (await lastNewlineBefore(handle, end - 1)) + 1;
      const seq = parseSeq(await readRange(handle, start, end - 1));
      if (seq !== null) {
        lastSeq = seq;
        break;
      }
      end = start;
    }
    if (end < size) {
      await handle.truncate(end);
      await handle.sync();
    }
    return { lastSeq, exists: true, truncatedBytes: size - end };
  } finally {
    await handle.close();
  }
}

/** The offset of the last `\n` strictly before `before`, or -1. */
async function lastNewlineBefore(handle: FileHandle, before: number): Promise<number> {
  let end = before;
  while (end > 0) {
    const start = Math.max(0, end - CHUNK);
    const buf = await readRange(handle, start, end);
    const i = buf.lastIndexOf(0x0a);
    if (i >= 0) return start + i;
    end = start;
  }
  return -1;
}

async function readRange(handle: FileHandle, start: number, end: number): Promise<Buffer> {
  const buf = Buffer.alloc(end - start);
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await handle.read(buf, off, buf.length - off, start + off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return buf.subarray(0, off);
}

function parseSeq(line: Buffer): number | null {
  try {
    const value = JSON.parse(line.toString('utf8')) as { seq?: unknown };
    return typeof value.seq === 'number' && Number.isInteger(value.seq) ? value.seq : null;
  } catch {
    return null;
  }
}
