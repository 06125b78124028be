import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { fsyncDir } from '../infra/files/durableFiles.ts';
import { openPrivateFile } from '../infra/files/privateFile.ts';
import { CliError, usageError } from './cliError.ts';

/**
 * The file `--out` names, written whole or not at all: the lines go to a temp file beside it, made anew
 * under a random name (O_EXCL, O_NOFOLLOW, 0600: nothing planted under a guessable name is written
 * through, and two exports to one file each write their own), which is renamed over `--out` once complete.
 * An `--out` that exists must be a regular file: a link, FIFO, device or directory there is refused, not
 * replaced. (Something swapped in between that check and the rename is replaced by the export, never
 * written through.)
 */
export class ExportFile {
  private constructor(
    readonly out: string,
    readonly temp: string,
    private readonly handle: FileHandle,
    readonly stream: Writable,
  ) {}

  /** `onTemp` hears the temp file's name before it is made (a Ctrl-C handler may have to remove it). */
  static async create(out: string, onTemp?: (temp: string) => void): Promise<ExportFile> {
    await assertExportTarget(out);
    const temp = `${out}.${randomBytes(6).toString('hex')}.partial`;
    onTemp?.(temp);
    const handle = await openPrivateFile(temp, 'create').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        throw new CliError(`--out ${out}: the directory ${dirname(out)} does not exist`, 2);
      throw error;
    });
    // On the handle's fd, not `handle.createWriteStream()`: that stream holds the handle until the stream
    // closes it, and the handle has to stay open past the last write to be synced.
    const stream = createWriteStream('', { fd: handle.fd, autoClose: false });
    return new ExportFile(out, temp, handle, stream);
  }

  /** The export is complete: the temp file is synced and renamed over `--out`. */
  async commit(): Promise<void> {
    // The stream does not close the fd (the handle does, once synced): it ends with 'finish', never 'close'.
    await new Promise<void>((resolve, reject) =>
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    await this.handle.sync();
    await this.handle.close();
    await rename(this.temp, this.out);
    await fsyncDir(dirname(this.out));
  }

  /** The export failed: the temp file goes, `--out` is left as it was. */
  async discard(): Promise<void> {
    this.stream.destroy();
    await this.handle.close().catch(() => {});
    await rm(this.temp, { force: true });
  }
}

async function assertExportTarget(out: string): Promise<void> {
  const found = await lstat(out).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw error;
  });
  if (found === null || found.isFile()) return;
  if (found.isDirectory()) throw usageError(`--out ${out} is a directory: name the file to write`);
  const what = found.isSymbolicLink() ? 'a symbolic link' : 'not a regular file (a FIFO, device or socket)';
  throw usageError(`--out ${out} is ${what}: name a regular file, or a new one`);
}
