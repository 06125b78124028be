import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { OperatorError } from '../../domain/errors.ts';

/** Directories the server creates: owner only, whatever the umask. */
export const PRIVATE_DIR_MODE = 0o700;
/** Files the server creates: owner read/write only, whatever the umask. */
export const PRIVATE_FILE_MODE = 0o600;

/** A file the server was about to open is not the plain file it expects (a link or a pipe planted there). */
export class UnsafeFileError extends OperatorError {
  constructor(
    readonly label: string,
    readonly reason: string,
  ) {
    super('unsafe_file', `${label} ${reason}: not opened`, 'conflict', { file: label });
  }
}

export const isUnsafeFileError = (e: unknown): e is UnsafeFileError => e instanceof UnsafeFileError;

const { O_RDONLY, O_RDWR, O_WRONLY, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;

/**
 * How to open: `append` and `write` create the file (0600) when missing; `write` does not truncate (the
 * caller does, once the file proved safe); `update` reads and writes an existing file; `create` makes a new
 * file and fails if the name exists.
 * O_NONBLOCK only matters for a FIFO: opening one never waits for its other end.
 */
const FLAGS = {
  read: O_RDONLY | O_NOFOLLOW | O_NONBLOCK,
  update: O_RDWR | O_NOFOLLOW | O_NONBLOCK,
  append: O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK,
  write: O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK,
  create: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
} as const;

/**
 * Opens a file in a directory that stage commands can write too (`runs/<id>/`), so that whatever a stage
 * planted under the name is refused, never written or served through: a symbolic link (O_NOFOLLOW: the
 * open fails), a FIFO or device (not a regular file), or a hard link to another file (more than one name).
 * Throws `UnsafeFileError`, saying which, with `label` as the file's name in the message.
 */
export async function openPrivateFile(
  path: string,
  how: keyof typeof FLAGS,
  label: string = path,
): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, FLAGS[how], PRIVATE_FILE_MODE);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Linux answers ELOOP for a symbolic link under O_NOFOLLOW, the BSDs EMLINK.
    if (code === 'ELOOP' || code === 'EMLINK') throw new UnsafeFileError(label, 'is a symbolic link');
    if (code === 'ENXIO') throw new UnsafeFileError(label, 'is a FIFO or a device');
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new UnsafeFileError(label, 'is not a regular file');
    if (stats.nlink > 1) throw new UnsafeFileError(label, `has ${stats.nlink} names (a hard link)`);
    return handle;
  } catch (error) {
    await handle.close().catch(() => {});
    throw error;
  }
}

/**
 * The bytes of a file in a directory that stage commands can write too, read through `openPrivateFile`: a
 * link, FIFO (whose plain read would wait for a writer for good) or hard link under the name throws
 * `UnsafeFileError` instead of being read.
 */
export async function readPrivateBytes(path: string, label: string = path): Promise<Buffer> {
  const handle = await openPrivateFile(path, 'read', label);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** `readPrivateBytes` as UTF-8 text. */
export async function readPrivateFile(path: string, label: string = path): Promise<string> {
  return (await readPrivateBytes(path, label)).toString('utf8');
}

/**
 * `readPrivateBytes` for readers that treat a missing file and a refused one as answers, not failures: null
 * when nothing is under the name, the `UnsafeFileError` (returned, not thrown) when a link, FIFO or hard link
 * is; any other error is thrown.
 */
export async function readPrivateIfPresent(
  path: string,
  label: string = path,
): Promise<Buffer | UnsafeFileError | null> {
  try {
    return await readPrivateBytes(path, label);
  } catch (error) {
    if (isUnsafeFileError(error)) return error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
