import { closeSync, constants, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../infra/files/privateFile.ts';
import { isSafeName, runPaths } from '../../infra/files/runsLayout.ts';
import type { FoldResult } from '../jobFold.ts';
import { fileJson, toGateFile, toStateFile } from '../jobFold.ts';

const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = constants;
const FILE_FLAGS = O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW;

/**
 * A rebuild's `state.json` and `gates/<gate>.json` under its aside runs dir, from the folds the read model
 * thread makes anyway (`GenerationBuilder`'s `onJobFolded`): the same bytes as `StateProjection`, once per
 * job per batch. Folds are queued while the write transaction runs and written after it, while LMDB
 * commits. Nobody reads the aside copy before the swap, which syncs it whole: files are written in place
 * (no temp file, no fsync); O_NOFOLLOW still refuses a link planted under a name.
 */
export class StagedStateFiles {
  #queued: { jobId: string; fold: FoldResult }[] = [];

  constructor(readonly runsDir: string) {}

  add(jobId: string, fold: FoldResult): void {
    this.#queued.push({ jobId, fold });
  }

  /** Writes every queued job's files: its changed gates first, then `state.json`, as the live projection. */
  writeQueued(): void {
    const queued = this.#queued;
    this.#queued = [];
    for (const { jobId, fold } of queued) {
      // Such jobs and gates never get files (the live projection skips them too).
      if (!isSafeName(jobId)) continue;
      const paths = runPaths(this.runsDir, jobId);
      mkdirSync(paths.dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      if (fold.gateWrites.size > 0) mkdirSync(paths.gatesDir, { recursive: true, mode: PRIVATE_DIR_MODE });
      for (const [name, seq] of fold.gateWrites) {
        const gate = fold.state.gates[name];
        if (!gate || !isSafeName(name)) continue;
        writeWhole(paths.gate(name), fileJson(toGateFile(jobId, gate, seq)));
      }
      writeWhole(paths.state, fileJson(toStateFile(jobId, fold.state)));
    }
  }
}

function writeWhole(path: string, text: string): void {
  const fd = openSync(path, FILE_FLAGS, PRIVATE_FILE_MODE);
  try {
    writeFileSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
