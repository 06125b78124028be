import type { LmdbLayout } from './lmdbLayout.ts';
import { readHead } from './lmdbLayout.ts';
import { type ScanBatch, scanAll, scanStream, VisibilityView } from './lmdbScans.ts';
import type { CursorBatch, SubscriptionCursor } from './lmdbSubscription.ts';
import { formatHead } from './positions.ts';

function toCursorBatch(layout: LmdbLayout, batch: ScanBatch, limit: number): CursorBatch {
  if (batch.scanned === limit) return { events: batch.events };
  return { events: batch.events, end: { head: formatHead(readHead(layout)) } };
}

/** `$all` from a position (the next one to read), optionally filtered by stream-name prefixes. */
export class AllCursor implements SubscriptionCursor {
  constructor(
    private readonly layout: LmdbLayout,
    private readonly nowMs: () => number,
    private next: number,
    private readonly prefixes?: readonly string[],
  ) {}

  readBatch(limit: number): CursorBatch {
    const view = new VisibilityView(this.layout, this.nowMs(), this.prefixes);
    const batch = scanAll(this.layout, view, this.next, 'forwards', limit);
    if (batch.last !== undefined) this.next = batch.last + 1;
    return toCursorBatch(this.layout, batch, limit);
  }
}

/** One stream from a revision (the next one to read). */
export class StreamCursor implements SubscriptionCursor {
  constructor(
    private readonly layout: LmdbLayout,
    private readonly nowMs: () => number,
    private readonly stream: string,
    private next: number,
  ) {}

  readBatch(limit: number): CursorBatch {
    const view = new VisibilityView(this.layout, this.nowMs());
    const batch = scanStream(
      this.layout,
      view,
      this.stream,
      this.next,
      'forwards',
      limit,
      Number.MAX_SAFE_INTEGER,
    );
    if (batch.last !== undefined) this.next = batch.last + 1;
    return toCursorBatch(this.layout, batch, limit);
  }
}
