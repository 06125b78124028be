// The ops strip (operators and admins): projection lag, live stream clients and failing webhook endpoints,
// read from the JSON status route every few seconds.
import { ApiError, api } from './api.js';
import { h, replaceChildren } from './dom.js';

const REFRESH_MS = 5000;
/** Lag past this many events is shown as a warning (readiness fails at 1000). */
const LAG_WARN = 100;

/**
 * @typedef {{ projections: { lag_events: number }, streams: { clients: number, cut_off_total: number },
 *   webhooks: { endpoints: number, failing: number, disabled: number } | null,
 *   queue: { queued: number, queued_capped: boolean } }} OpsStatus
 */

/** @param {string} key @param {string} label @param {string} value @param {boolean} warn */
const figure = (key, label, value, warn) =>
  h('div', { 'data-ops': key, 'data-level': warn ? 'warn' : 'ok' }, h('dt', {}, label), h('dd', {}, value));

export function opsStrip() {
  const list = h('dl', { class: 'ops-strip', id: 'ops-strip', 'aria-label': 'System status' });
  /** @param {OpsStatus} status */
  function render(status) {
    const lag = status.projections.lag_events;
    const hooks = status.webhooks;
    replaceChildren(
      list,
      figure('lag', 'Projection lag', `${lag} ${lag === 1 ? 'event' : 'events'}`, lag > LAG_WARN),
      figure('streams', 'Live streams', String(status.streams.clients), false),
      hooks === null
        ? figure('webhooks', 'Webhooks', 'not running here', false)
        : figure(
            'webhooks',
            'Webhooks failing',
            `${hooks.failing} of ${hooks.endpoints}${hooks.disabled > 0 ? `, ${hooks.disabled} disabled` : ''}`,
            hooks.failing + hooks.disabled > 0,
          ),
    );
    for (const [key, value] of [
      ['lag', lag],
      ['streams', status.streams.clients],
      ['failing', hooks?.failing ?? ''],
      ['disabled', hooks?.disabled ?? ''],
    ])
      list.dataset[key] = String(value);
  }

  let stopped = false;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  async function refresh() {
    try {
      render(await api('/status/ops'));
    } catch (error) {
      replaceChildren(
        list,
        figure('error', 'System status', error instanceof ApiError ? error.message : String(error), true),
      );
    }
    if (!stopped) timer = setTimeout(refresh, REFRESH_MS);
  }
  void refresh();
  return {
    element: list,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
