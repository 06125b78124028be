import { openPrivateFile } from '../infra/files/privateFile.ts';

/**
 * Appends one line to `logs/<stage>.reaper.log`: what the stage reaper did when its operator was gone. The
 * stage's own log is a projection of the store and the reaper has no store, so its notes live beside it,
 * opened with the same refusals as every run-dir file (O_NOFOLLOW, a regular file with one name).
 */
export async function appendReaperNote(path: string, label: string, ts: Date, note: string): Promise<void> {
  const handle = await openPrivateFile(path, 'append', label);
  try {
    await handle.write(`${ts.toISOString()} runner ${note}\n`);
  } finally {
    await handle.close();
  }
}
