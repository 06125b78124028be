// The filter box of a job's event list. Words match the message (any case); `type:`, `stage:`, `status:`
// and `actor:` match those fields (a value with spaces in double quotes). The events already listed are filtered by the server's search
// (GET /events/search); events that arrive later are matched here, the same way.
import { api } from './api.js';
import { h } from './dom.js';

/** @typedef {import('./jobTimeline.js').JobEvent} JobEvent */
/** @typedef {{ q?: string, type?: string, stage?: string, status?: string, actor?: string }} EventQuery */

const FIELDS = ['type', 'stage', 'status', 'actor'];
const DEBOUNCE_MS = 250;
const MAX_PAGES = 50;

/**
 * `gate type:gate_approved actor:alice` -> { q: 'gate', type: 'gate_approved', actor: 'alice' }; a value with
 * spaces is quoted: `actor:"Alice Smith"`. @param {string} text
 */
export function parseFilter(text) {
  /** @type {EventQuery} */
  const query = {};
  const words = [];
  for (const [, field, quoted, word] of text.matchAll(/(\w+):"([^"]*)"|(\S+)/g)) {
    if (field !== undefined && FIELDS.includes(field)) {
      /** @type {any} */ (query)[field] = quoted;
      continue;
    }
    const match = /^(\w+):(.+)$/.exec(word ?? '');
    if (match && FIELDS.includes(match[1] ?? '')) /** @type {any} */ (query)[match[1] ?? ''] = match[2];
    else words.push(word ?? `${field}:"${quoted}"`);
  }
  if (words.length > 0) query.q = words.join(' ');
  return query;
}

/** @param {EventQuery} query @param {JobEvent} event */
export function matchesFilter(query, event) {
  return (
    (query.q === undefined || event.message.toLowerCase().includes(query.q.toLowerCase())) &&
    (query.type === undefined || event.type === query.type) &&
    (query.stage === undefined || event.stage === query.stage) &&
    (query.status === undefined || /** @type {any} */ (event).status === query.status) &&
    (query.actor === undefined || event.actor === query.actor)
  );
}

export class EventFilter {
  /** @param {string} jobId @param {HTMLElement} body the tbody whose rows carry data-seq */
  constructor(jobId, body) {
    this.jobId = jobId;
    this.body = body;
    /** @type {EventQuery | null} */
    this.query = null;
    /** @type {Map<number, JobEvent>} */
    this.events = new Map();
    /** @type {AbortController | null} */
    this.running = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.input = /** @type {HTMLInputElement} */ (
      h('input', {
        id: 'events-filter',
        type: 'search',
        autocomplete: 'off',
        spellcheck: 'false',
        placeholder: 'text, type:…, stage:…, actor:…',
      })
    );
    this.status = h('span', {
      id: 'events-filter-status',
      class: 'muted small',
      role: 'status',
      'aria-live': 'polite',
    });
    this.element = h(
      'div',
      { class: 'filter events-filter' },
      h('label', { for: 'events-filter' }, 'Filter'),
      this.input,
      this.status,
    );
    this.input.addEventListener('input', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
    });
  }

  /** Events whose rows were just added to the table. @param {[JobEvent, HTMLElement][]} rows */
  trackAll(rows) {
    for (const [event, row] of rows) {
      this.events.set(event.seq, event);
      if (this.query) row.hidden = !matchesFilter(this.query, event);
    }
    this.#count();
  }

  async run() {
    this.running?.abort();
    const text = this.input.value;
    const query = text.trim() === '' ? null : parseFilter(text);
    this.query = query;
    if (!query) {
      for (const row of this.#rows()) row.hidden = false;
      this.status.textContent = '';
      return;
    }
    const controller = new AbortController();
    this.running = controller;
    const params = new URLSearchParams({ job: this.jobId, limit: '1000' });
    for (const [key, value] of Object.entries(query)) params.set(key, value);
    /** @type {Set<number>} */
    const found = new Set();
    try {
      let cursor = null;
      for (let page = 0; page < MAX_PAGES; page++) {
        if (cursor) params.set('cursor', cursor);
        const answer = await api(`/events/search?${params}`, { signal: controller.signal });
        for (const event of answer.events) found.add(event.seq);
        cursor = answer.next_cursor;
        if (!cursor) break;
      }
    } catch {
      if (controller.signal.aborted) return;
      // A type the server does not know, or no answer: match what the page holds.
      for (const event of this.events.values()) if (matchesFilter(query, event)) found.add(event.seq);
    }
    if (this.running !== controller) return;
    const searched = Math.max(-1, ...found);
    for (const row of this.#rows()) {
      const seq = Number(row.getAttribute('data-seq'));
      const event = this.events.get(seq);
      // rows newer than what the read model answered for are matched here
      row.hidden = seq > searched && event ? !matchesFilter(query, event) : !found.has(seq);
    }
    this.#count();
  }

  stop() {
    clearTimeout(this.timer);
    this.running?.abort();
  }

  #rows() {
    return /** @type {HTMLElement[]} */ ([...this.body.querySelectorAll('tr[data-seq]')]);
  }

  #count() {
    if (!this.query) return;
    const rows = this.#rows();
    const shown = rows.filter((r) => !r.hidden).length;
    this.status.textContent = shown === 0 ? 'no event matches' : `${shown} of ${rows.length} events`;
  }
}
