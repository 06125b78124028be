import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, open, readdir, readlink, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface TarSummary {
  files: number;
  bytes: number;
}

const BLOCK = 512;
const MAX_USTAR_SIZE = 0o77777777777;

/**
 * Writes `sourceDir` as a gzip-compressed POSIX tar (ustar, with pax headers for long names) whose entries
 * are under `rootName/`: `tar -xzf` restores the directory. Files are streamed, so memory stays small
 * whatever their size. The archive is written to a temp file, fsynced and renamed into place: `destination`
 * is either absent or complete.
 */
export async function writeTarGz(
  sourceDir: string,
  rootName: string,
  destination: string,
): Promise<TarSummary> {
  const summary: TarSummary = { files: 0, bytes: 0 };
  const temp = `${destination}.tmp`;
  try {
    await pipeline(
      Readable.from(archive(sourceDir, rootName, summary)),
      createGzip(),
      createWriteStream(temp),
    );
    const handle = await open(temp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, destination);
    const dir = await open(dirname(destination), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
    return summary;
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function* archive(dir: string, name: string, summary: TarSummary): AsyncGenerator<Buffer> {
  yield* entries(dir, name, summary);
  yield Buffer.alloc(BLOCK * 2); // end of archive
}

async function* entries(dir: string, name: string, summary: TarSummary): AsyncGenerator<Buffer> {
  const stat = await lstat(dir);
  yield* header(`${name}/`, { type: '5', size: 0, mode: stat.mode, mtime: stat.mtimeMs });
  const children = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const child of children) {
    const path = join(dir, child.name);
    const entryName = `${name}/${child.name}`;
    if (child.isDirectory()) {
      yield* entries(path, entryName, summary);
    } else if (child.isSymbolicLink()) {
      const s = await lstat(path);
      yield* header(entryName, {
        type: '2',
        size: 0,
        mode: s.mode,
        mtime: s.mtimeMs,
        link: await readlink(path),
      });
    } else if (child.isFile()) {
      const s = await lstat(path);
      yield* header(entryName, { type: '0', size: s.size, mode: s.mode, mtime: s.mtimeMs });
      let written = 0;
      const content = s.size === 0 ? [] : createReadStream(path, { start: 0, end: s.size - 1 });
      for await (const chunk of content) {
        const buf = chunk as Buffer;
        const take = buf.subarray(0, Math.min(buf.length, s.size - written));
        written += take.length;
        if (take.length > 0) yield take;
        if (written >= s.size) break;
      }
      // A file that shrank while being read is padded to the size its header announced.
      if (written < s.size) yield Buffer.alloc(s.size - written);
      yield Buffer.alloc((BLOCK - (s.size % BLOCK)) % BLOCK);
      summary.files++;
      summary.bytes += s.size;
    }
  }
}

interface EntryInfo {
  type: '0' | '2' | '5';
  size: number;
  mode: number;
  mtime: number;
  link?: string;
}

function* header(name: string, info: EntryInfo): Generator<Buffer> {
  if (info.size > MAX_USTAR_SIZE) throw new Error(`${name}: files above 8 GiB are not archived`);
  const pax: string[] = [];
  if (Buffer.byteLength(name) > 100) pax.push(paxRecord('path', name));
  if (info.link && Buffer.byteLength(info.link) > 100) pax.push(paxRecord('linkpath', info.link));
  if (pax.length > 0) {
    const body = Buffer.from(pax.join(''));
    yield ustarHeader('PaxHeader', { type: 'x', size: body.length, mode: 0o644, mtime: info.mtime });
    yield body;
    yield Buffer.alloc((BLOCK - (body.length % BLOCK)) % BLOCK);
  }
  yield ustarHeader(name, info);
}

/** A pax record is `<length> <key>=<value>\n`, where the length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length++;
  return `${length}${rest}`;
}

function ustarHeader(
  name: string,
  info: Omit<EntryInfo, 'type'> & { type: EntryInfo['type'] | 'x' },
): Buffer {
  const buf = Buffer.alloc(BLOCK);
  const nameBytes = Buffer.from(name);
  nameBytes.copy(buf, 0, 0, Math.min(100, nameBytes.length));
  octal(buf, 100, 8, info.mode & 0o7777);
  octal(buf, 108, 8, 0);
  octal(buf, 116, 8, 0);
  octal(buf, 124, 12, info.size);
  octal(buf, 136, 12, Math.floor(info.mtime / 1000));
  buf.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  buf.write(info.type, 156, 'ascii');
  if (info.link) Buffer.from(info.link).copy(buf, 157, 0, Math.min(100, Buffer.byteLength(info.link)));
  buf.write('ustar\u000000', 257, 'binary');
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'ascii');
  return buf;
}

function octal(buf: Buffer, offset: number, length: number, value: number): void {
  buf.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, 'ascii');
}
