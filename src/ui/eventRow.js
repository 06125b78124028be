// One row of the job page's event list, the payload folded away.
import { formatClock, formatTime, h } from './dom.js';

/** @typedef {import('./jobTimeline.js').JobEvent} JobEvent */

/** @param {JobEvent} event */
export function eventRow(event) {
  const hasPayload = Object.keys(event.payload ?? {}).length > 0;
  return h(
    'tr',
    { 'data-seq': event.seq, 'data-type': event.type },
    h(
      'td',
      { 'data-label': 'Time' },
      h('time', { datetime: event.ts, title: formatTime(event.ts) }, formatClock(event.ts)),
    ),
    h('td', { 'data-label': 'Type' }, h('code', {}, event.type)),
    h('td', { 'data-label': 'Stage' }, event.stage ?? '—'),
    h(
      'td',
      { 'data-label': 'Message', class: 'cell-message' },
      event.message,
      hasPayload
        ? h(
            'details',
            { class: 'payload' },
            h('summary', {}, 'payload'),
            h('pre', {}, JSON.stringify(event.payload, null, 2)),
          )
        : null,
    ),
    h('td', { 'data-label': 'Actor' }, event.actor),
  );
}
