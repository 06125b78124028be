// The server's folded state of one job (GET /jobs/{id}/state), asked for again whenever the page hears of
// an event the state it holds does not reflect yet: one request at a time, and an answer older than the
// one held never replaces it.
import { api, jobPath } from './api.js';
import { sleep } from './liveFeed.js';

/** @typedef {import('./jobTimeline.js').JobState} JobState */

const RETRY_MAX_MS = 5000;

export class JobStateSource {
  /** @param {string} jobId @param {(state: JobState) => void} onState */
  constructor(jobId, onState) {
    this.jobId = jobId;
    this.onState = onState;
    /** @type {JobState | null} */
    this.state = null;
    /** The highest event seq the page has heard of. */
    this.wanted = -1;
    this.running = false;
    this.stopper = new AbortController();
  }

  /** The page heard of event `seq`: fetch the state unless the one held already reflects it. @param {number} seq */
  want(seq) {
    this.wanted = Math.max(this.wanted, seq);
    if (!this.running && !this.#current()) void this.#fetch();
  }

  stop() {
    this.stopper.abort();
  }

  #current() {
    return this.state !== null && this.state.seq >= this.wanted;
  }

  async #fetch() {
    const { signal } = this.stopper;
    this.running = true;
    let failures = 0;
    try {
      while (!signal.aborted && !this.#current()) {
        /** @type {JobState | null} */
        let state = null;
        try {
          state = await api(`${jobPath(this.jobId)}/state`, { signal });
          failures = 0;
        } catch {
          failures += 1;
        }
        if (signal.aborted) return;
        if (state && (this.state === null || state.seq >= this.state.seq)) {
          this.state = state;
          this.onState(state);
        }
        if (!this.#current()) await sleep(Math.min(250 * 2 ** failures, RETRY_MAX_MS), signal);
      }
    } finally {
      this.running = false;
    }
  }
}
