// The log of one stage: followed live over SSE (`?follow=1`, one line per frame, id = byte offset) while the
// stage runs, read once as text when it does not. Lines are deduplicated by byte offset, so a reconnect
// that starts over from the top shows nothing twice.
import { API, streamUrl, token } from './api.js';
import { h, replaceChildren } from './dom.js';

/** The page keeps at most this much of a log; the start is cut first. */
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
    this.pre.textContent = '';
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
      this.append(`${message.data}\n`);
    });
    es.addEventListener('end', () => {
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
      this.pre.textContent = '';
      this.append(await res.text());
      this.note.textContent = `The log of ${this.stage}.`;
    } catch {
      if (!controller.signal.aborted) this.note.textContent = 'The log could not be read.';
    }
  }

  /** @param {string} text */
  append(text) {
    const atBottom = this.pre.scrollTop + this.pre.clientHeight >= this.pre.scrollHeight - 8;
    const all = (this.pre.textContent ?? '') + text;
    replaceChildren(this.pre, all.length > MAX_CHARS ? all.slice(all.length - MAX_CHARS) : all);
    if (atBottom) this.pre.scrollTop = this.pre.scrollHeight;
  }
}
