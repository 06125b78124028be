import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { JobEvent } from '../domain/events.ts';

/** Writes to a stream and waits for it to drain when its buffer is full: constant memory whatever the volume. */
export class LineWriter {
  #pending = '';

  constructor(
    private readonly out: Writable,
    private readonly chunkBytes = 64 * 1024,
  ) {}

  /** Buffers `text`; once the buffer passes the chunk size it is written (awaiting `drain` if needed). */
  async write(text: string): Promise<void> {
    this.#pending += text;
    if (this.#pending.length >= this.chunkBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#pending === '') return;
    const chunk = this.#pending;
    this.#pending = '';
    if (!this.out.write(chunk)) await once(this.out, 'drain');
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it exists to find
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const ESCAPED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text from the log or the server made safe for a terminal: control characters (C0, DEL, C1: escape
 * sequences, carriage returns, newlines) and the line and direction marks that reorder or break a line are
 * shown as `\n`, `\u001b`, ... So a gate comment, an actor or a stage's failure lines can neither forge
 * another line of output nor send the terminal a command. `--json` needs none of this: JSON escapes them.
 */
export function printable(text: string): string {
  return text.replace(
    UNPRINTABLE,
    (c) => ESCAPED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Plain columns, padded to the widest cell; the last column is never padded. Cells are made `printable`. */
export function formatTable(header: readonly string[], rawRows: readonly (readonly string[])[]): string {
  const rows = rawRows.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export const EVENT_COLUMNS = ['SEQ', 'TS', 'TYPE', 'STAGE', 'STATUS', 'ACTOR', 'MESSAGE'] as const;

export function eventRow(event: JobEvent): string[] {
  return [
    String(event.seq),
    event.ts,
    event.type,
    event.stage ?? '-',
    event.status,
    event.actor,
    event.message,
  ];
}

/** One event as a line for live output (tail, replay): readable without a table header. */
export function eventLine(event: JobEvent, withJob: boolean): string {
  const job = withJob ? `${event.job_id} ` : '';
  const stage = event.stage ? ` [${event.stage}]` : '';
  return `${event.ts} ${job}#${event.seq} ${event.type}${printable(stage)} ${event.status} by ${printable(event.actor)}: ${printable(event.message)}\n`;
}

export const printJson = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};
