import type { NameStyle } from '../../domain/events.ts';
import { renderEventJson } from '../../domain/events.ts';

/**
 * How a client wants its frames. By default each event is `id:` + `data:` only, so `EventSource.onmessage`
 * (and any client that reads `data:` lines) gets every event, its `type` inside the JSON; `named` adds the
 * `event: <type>` line for clients that prefer `addEventListener(type)` (`frames=named`). `names: 'alias'`
 * renders the JSON with the seed's names (`names=alias`).
 */
export interface WireStyle {
  names: NameStyle;
  named: boolean;
}

export const DEFAULT_WIRE_STYLE: WireStyle = { names: 'canonical', named: false };

const STYLES: readonly WireStyle[] = [
  DEFAULT_WIRE_STYLE,
  { names: 'canonical', named: true },
  { names: 'alias', named: false },
  { names: 'alias', named: true },
];

export function wireStyle(query: {
  names?: NameStyle | undefined;
  frames?: 'data' | 'named' | undefined;
}): WireStyle {
  // One shared object per style: a connection holds a reference, not its own copy.
  const names = query.names ?? 'canonical';
  const named = query.frames === 'named';
  return STYLES.find((s) => s.names === names && s.named === named) ?? { names, named };
}

/** One event frame: `id:`, the optional `event:` line, the event JSON in the reader's names. */
export function eventFrame(
  id: string | number,
  type: string,
  canonicalJson: string,
  style: WireStyle,
): string {
  const event = style.named ? `event: ${type}\n` : '';
  return `id: ${id}\n${event}data: ${renderEventJson(canonicalJson, style.names)}\n\n`;
}

/**
 * A heartbeat: an event of the wire only (never stored), without `id:` so it never moves a client's resume
 * point. `job_id` is the stream's job, null on the all-jobs stream.
 */
export function heartbeatFrame(ts: string, jobId: string | null, style: WireStyle): string {
  const json = `{"type":"heartbeat","ts":${JSON.stringify(ts)},"job_id":${JSON.stringify(jobId)}}`;
  const event = style.named ? 'event: heartbeat\n' : '';
  return `${event}data: ${renderEventJson(json, style.names)}\n\n`;
}

/**
 * A control frame (`connected`, `end`, `shutdown`): always named, so `onmessage` clients see only events and
 * heartbeats. `end` carries the job's last seq as its `id:`, so a browser that reconnects after it sends
 * `Last-Event-ID` = that seq and gets `204 No Content`, which stops it.
 */
export function controlFrame(
  event: 'connected' | 'end' | 'shutdown',
  data: unknown,
  id?: string | number,
): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
