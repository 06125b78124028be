// The log of one stage: followed live over SSE (`?follow=1`, one line per frame, id = byte offset) while the
// stage runs, read once as text when it does not. Lines are deduplicated by byte offset, so a reconnect
// that starts over from the top shows nothing twice.
import { API, streamUrl, token } from './api.js';
import { h, perFrame, replaceChildren } from './dom.js';

/** The page keeps about this much of a log (up to a quarter more between cuts); the start is cut first. */
const MAX_CHARS = 200_000;

export class StageLogView {
  constructor() {
    this.pre = h('pre', { id: 'stage-log', class: 'log', tabindex: '0', 'aria-label': 'Stage log' });
    this.note = h('p', { id: 'stage-log-note', class: 'muted small', role: 'status' });
    this.element = h('div', { class: 'log-box' }, this.note, this.pre);
    /** @type {string | null} */
    this.jobId = null;
    /** @type {string | null} */
    this.stage = null;
    this.running = false;
    /** @type {'idle' | 'follow' | 'static'} */
    this.mode = 'idle';
    this.offset = 0;
    /** @type {EventSource | null} */
    this.es = null;
    /** @type {AbortController | null} */
    this.abort = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retry = undefined;
    /** Characters in the log element (its text is not read back for every write). */
    this.length = 0;
    /** Lines received and not yet written: a burst is written once per frame, not once per line. */
    this.pending = '';
    this.writer = perFrame(() => {
      const text = this.pending;
      this.pending = '';
      if (text) this.append(text);
    });
  }

  /**
   * Shows `stage`, following it while it runs. Cheap to call after every event.
   * @param {string} jobId @param {string | null} stage @param {boolean} running
   * @param {boolean} runs false for a stage an external worker reports: it has no log on this server
   */
  show(jobId, stage, running, runs) {
    const same = this.jobId === jobId && this.stage === stage;
    this.running = running;
    if (same && (this.mode === 'follow' || (this.mode === 'static' && (!running || !runs)))) return;
    this.stop();
    this.jobId = jobId;
    this.stage = stage;
    this.offset = 0;
    this.clear();
    this.pre.hidden = !stage || !runs;
    if (!stage) {
      this.note.textContent = 'No stage has run yet.';
      return;
    }
    if (!runs) {
      this.mode = 'static';
      this.note.textContent = `${stage} is reported by an external worker: its output is not kept here.`;
      return;
    }
    if (running) this.follow();
    else void this.readOnce();
  }

  stop() {
    this.writer.now();
    clearTimeout(this.retry);
    this.es?.close();
    this.es = null;
    this.abort?.abort();
    this.abort = null;
    this.mode = 'idle';
  }

  follow() {
    this.mode = 'follow';
    this.note.textContent = `Following the log of ${this.stage}…`;
    const path = `/jobs/${encodeURIComponent(this.jobId ?? '')}/stages/${encodeURIComponent(this.stage ?? '')}/log`;
    const es = new EventSource(streamUrl(path, { follow: '1' }));
    this.es = es;
    es.addEventListener('connected', () => {
      this.note.textContent = `Following the log of ${this.stage} (live).`;
    });
    es.addEventListener('message', (message) => {
      const end = Number(message.lastEventId);
      if (Number.isFinite(end) && end <= this.offset) return;
      this.offset = end;
      this.queue(`${message.data}\n`);
    });
    es.addEventListener('end', () => {
      this.writer.now();
      es.close();
      this.mode = 'static';
      this.note.textContent = `The log of ${this.stage} (the stage has ended).`;
    });
    es.onerror = () => {
      es.close();
      if (this.es !== es) return;
      this.es = null;
      if (!this.running) {
        void this.readOnce();
        return;
      }
      this.note.textContent = `Waiting for the log of ${this.stage}…`;
      this.retry = setTimeout(() => this.follow(), 1000);
    };
  }

  async readOnce() {
    this.mode = 'static';
    const controller = new AbortController();
    this.abort = controller;
    const path = `/jobs/${encodeURIComponent(this.jobId ?? '')}/stages/${encodeURIComponent(this.stage ?? '')}/log`;
    try {
      const res = await fetch(API + path, {
        headers: { authorization: `Bearer ${token.get() ?? ''}` },
        signal: controller.signal,
      });
      if (res.status === 404) {
        this.note.textContent = `No log for ${this.stage} yet: it has not run.`;
        return;
      }
      if (!res.ok) {
        const body = await res.json().catch(() => null);
        this.note.textContent = body?.error?.message ?? `HTTP ${res.status}`;
        return;
      }
      this.clear();
      this.append(await res.text());
      this.note.textContent = `The log of ${this.stage}.`;
    } catch {
      if (!controller.signal.aborted) this.note.textContent = 'The log could not be read.';
    }
  }

  /** Empties the log element and drops what was waiting to be written. */
  clear() {
    this.writer.cancel();
    this.pending = '';
    this.pre.textContent = '';
    this.length = 0;
  }

  /** @param {string} text a line received: written with the others of its frame. */
  queue(text) {
    this.pending += text;
    this.writer.schedule();
  }

  /** @param {string} text */
  append(text) {
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 8;
    this.length += text.length;
    if (this.length <= MAX_CHARS + MAX_CHARS / 4) this.pre.append(text);
    else {
      // Cut back to MAX_CHARS now and then, not at every write: the whole text is rewritten only then.
      const all = (this.pre.textContent ?? '') + text;
      const kept = all.slice(all.length - MAX_CHARS);
      replaceChildren(this.pre, kept);
      this.length = kept.length;
    }
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }
}
