// Small DOM and formatting helpers shared by the views.

/**
 * Creates an element. Attributes whose value is `false`, `null` or `undefined` are left out; `on*` functions
 * become listeners; children may be strings, nodes, arrays or nothing.
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...unknown} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else if (key in el && typeof value !== 'string') /** @type {any} */ (el)[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...flat(children));
  return el;
}

/** @param {unknown[]} children @returns {(Node | string)[]} */
function flat(children) {
  return children
    .flat(Infinity)
    .filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

/** @param {Element} el @param {...unknown} children */
export function replaceChildren(el, ...children) {
  el.replaceChildren(...flat(children));
}

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/** 850ms, 2.1s, 3m 05s, 1h 02m — the same style as the server's messages. @param {number} ms */
export function formatDuration(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  if (total < 3600) return `${Math.floor(total / 60)}m ${pad(total % 60)}s`;
  return `${Math.floor(total / 3600)}h ${pad(Math.floor((total % 3600) / 60))}m`;
}

/**
 * What `toLocaleString` / `toLocaleTimeString(undefined, { hour12: false })` format (the same fields, as the
 * standard fills them in), made once: each of those calls builds a formatter anew, a good part of a
 * millisecond, and a long job's page shows two per event.
 */
const NUMERIC = /** @type {const} */ ('numeric');
const TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  hour12: false,
  hour: NUMERIC,
  minute: NUMERIC,
  second: NUMERIC,
});
const DATE_TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  hour12: false,
  year: NUMERIC,
  month: NUMERIC,
  day: NUMERIC,
  hour: NUMERIC,
  minute: NUMERIC,
  second: NUMERIC,
});

/** Local date and time, to the second. @param {string | null | undefined} iso */
export function formatTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : DATE_TIME_FORMAT.format(d);
}

/** The time alone for today, else the date too. @param {string} iso */
export function formatClock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = d.toDateString() === new Date().toDateString();
  return today ? TIME_FORMAT.format(d) : formatTime(iso);
}

/** "12s ago", "3m ago". @param {string | null | undefined} iso @param {number} now */
export function timeAgo(iso, now = Date.now()) {
  if (!iso) return '—';
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  if (ms < 5000) return 'just now';
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m ago`;
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)}h ago`;
  return `${Math.floor(ms / 86_400_000)}d ago`;
}

/** A `<time>` element that keeps its relative text fresh via `refreshTimes`. @param {string | null} iso */
export function relativeTime(iso) {
  return h('time', { datetime: iso ?? '', title: formatTime(iso), 'data-relative': iso ?? '' }, timeAgo(iso));
}

/** Re-renders every relative `<time>` under `root`. @param {ParentNode} root */
export function refreshTimes(root) {
  const now = Date.now();
  for (const el of root.querySelectorAll('time[data-relative]')) {
    el.textContent = timeAgo(el.getAttribute('data-relative'), now);
  }
}

/** @param {string} status */
export function statusBadge(status) {
  return h('span', { class: `badge badge-${status}` }, status);
}

/**
 * Runs `write` once per frame for whatever was queued since (requestAnimationFrame, or after `waitMs` where
 * the tab gets no frames): a burst of messages costs the page one write and one layout, not one each.
 * @param {() => void} write
 * @param {number} [waitMs]
 */
export function perFrame(write, waitMs = 100) {
  /** @type {{ frame: number, timer: ReturnType<typeof setTimeout> } | null} */
  let due = null;
  const cancel = () => {
    if (!due) return;
    cancelAnimationFrame(due.frame);
    clearTimeout(due.timer);
    due = null;
  };
  const now = () => {
    cancel();
    write();
  };
  return {
    /** Asks for a write at the next frame (one, however often it is asked). */
    schedule() {
      due ??= { frame: requestAnimationFrame(now), timer: setTimeout(now, waitMs) };
    },
    /** Writes now what is queued. */
    now,
    /** Forgets the write asked for. */
    cancel,
  };
}
