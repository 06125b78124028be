// One live feed of events: EventSource first; after repeated failures, polling, while the stream is
// probed now and then so the page switches back once streaming works again. Every event goes through one
// cursor, so an event seen twice (replay after a reconnect, a poll racing the stream, a command's own answer)
// is dropped and a reconnect resumes exactly after the last one shown.

const RECONNECT_DELAYS_MS = [500, 1000];
/** Stream failures in a row (without a `connected` frame between) before falling back to polling. */
const FAILURES_BEFORE_POLLING = 3;
/** A stream that sends no `connected` frame by then is being buffered somewhere: a failure. */
const CONNECT_TIMEOUT_MS = 5000;
/** The server sends a heartbeat every few seconds; this much silence means the stream is dead. */
const STALL_MS = 30_000;
const PROBE_FIRST_MS = 2000;
const PROBE_MAX_MS = 10_000;

/**
 * @typedef {'connecting' | 'live' | 'reconnecting' | 'polling' | 'ended' | 'stopped'} FeedState
 * @typedef {{ seq: number, position: string, type: string, [key: string]: unknown }} WireEvent
 * @typedef {{
 *   streamUrl: (cursor: string | null) => string,
 *   poll: (cursor: string | null, signal: AbortSignal) => Promise<WireEvent[]>,
 *   cursorOf: (event: WireEvent) => string,
 *   isAfter: (a: string, b: string | null) => boolean,
 *   isNext?: (event: WireEvent, cursor: string | null) => boolean,
 *   onEvent: (event: WireEvent) => void,
 *   onConnected?: (info: Record<string, unknown>) => void,
 *   onState: (state: FeedState, detail?: string) => void,
 *   onFailure?: () => void,
 *   isFinished?: () => boolean,
 *   cursor?: string | null,
 * }} FeedOptions
 */

/** @param {number} ms @param {AbortSignal} signal */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
}

export class LiveFeed {
  /** @param {FeedOptions} options */
  constructor(options) {
    this.options = options;
    /** @type {string | null} */
    this.cursor = options.cursor ?? null;
    /** @type {'stream' | 'polling' | 'ended' | 'stopped'} */
    this.mode = 'stream';
    this.failures = 0;
    this.probeDelay = PROBE_FIRST_MS;
    /** @type {EventSource | null} */
    this.es = null;
    /** @type {AbortController | null} */
    this.pollAbort = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.watchdog = undefined;
  }

  start() {
    this.options.onState('connecting');
    this.openStream();
  }

  stop() {
    this.mode = 'stopped';
    this.closeStream();
    this.stopPolling();
    clearTimeout(this.timer);
    this.options.onState('stopped');
  }

  /** Events learnt another way (a command's answer): shown now unless they would leave a gap. @param {WireEvent[]} events */
  push(events) {
    for (const event of events) this.accept(event, false);
  }

  /** @param {WireEvent} event @param {boolean} fromStream @returns {boolean} false when it would leave a gap */
  accept(event, fromStream) {
    const { cursorOf, isAfter, isNext } = this.options;
    if (!isAfter(cursorOf(event), this.cursor)) return true;
    if (isNext && !isNext(event, this.cursor)) {
      if (fromStream) this.restartStream();
      return false;
    }
    this.cursor = cursorOf(event);
    this.options.onEvent(event);
    return true;
  }

  openStream() {
    if (this.mode === 'stopped') return;
    this.closeStream();
    const es = new EventSource(this.options.streamUrl(this.cursor));
    this.es = es;
    this.timer = setTimeout(() => this.streamFailed(es), CONNECT_TIMEOUT_MS);
    es.addEventListener('connected', (message) => {
      if (es !== this.es) return;
      clearTimeout(this.timer);
      this.failures = 0;
      this.probeDelay = PROBE_FIRST_MS;
      this.stopPolling();
      this.mode = 'stream';
      this.touch(es);
      this.options.onState('live');
      this.options.onConnected?.(JSON.parse(message.data));
    });
    // Events and heartbeats arrive as unnamed frames (`onmessage`), the type inside the JSON.
    es.onmessage = (message) => {
      if (es !== this.es) return;
      this.touch(es);
      const event = JSON.parse(message.data);
      if (event.type !== 'heartbeat') this.accept(event, true);
    };
    es.addEventListener('end', () => {
      if (es === this.es) this.enterEnded();
    });
    es.onerror = () => {
      // A finished job's stream answers a reconnect with 204, which closes the EventSource for good.
      if (es === this.es && es.readyState === EventSource.CLOSED && this.options.isFinished?.())
        this.enterEnded();
      else this.streamFailed(es);
    };
  }

  /** @param {EventSource} es */
  touch(es) {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.streamFailed(es), STALL_MS);
  }

  closeStream() {
    clearTimeout(this.watchdog);
    clearTimeout(this.timer);
    if (this.es) {
      this.es.onerror = null;
      this.es.close();
      this.es = null;
    }
  }

  restartStream() {
    this.closeStream();
    this.openStream();
  }

  /** @param {EventSource} es */
  streamFailed(es) {
    if (es !== this.es || this.mode === 'stopped') return;
    this.closeStream();
    this.failures += 1;
    this.options.onFailure?.();
    if (this.mode === 'polling') {
      this.scheduleProbe();
    } else if (this.failures >= FAILURES_BEFORE_POLLING) {
      this.mode = 'polling';
      this.options.onState('polling', 'streaming keeps failing: polling instead');
      void this.pollLoop();
      this.scheduleProbe();
    } else {
      this.options.onState('reconnecting');
      this.timer = setTimeout(() => this.openStream(), RECONNECT_DELAYS_MS[this.failures - 1] ?? 2000);
    }
  }

  scheduleProbe() {
    this.timer = setTimeout(() => this.openStream(), this.probeDelay);
    this.probeDelay = Math.min(this.probeDelay * 2, PROBE_MAX_MS);
  }

  /** The job stream ended at a terminal event; a quiet poll notices a resume and reopens the stream. */
  enterEnded() {
    this.closeStream();
    this.mode = 'ended';
    this.options.onState('ended');
    void this.pollLoop();
  }

  async pollLoop() {
    this.stopPolling();
    const controller = new AbortController();
    this.pollAbort = controller;
    const mode = this.mode;
    let errors = 0;
    while (!controller.signal.aborted && this.mode === mode) {
      try {
        const events = await this.options.poll(this.cursor, controller.signal);
        if (controller.signal.aborted) return;
        if (errors > 0 && mode === 'polling') this.options.onState('polling');
        errors = 0;
        for (const event of events) this.accept(event, false);
        if (mode === 'ended' && events.length > 0) {
          this.mode = 'stream';
          this.stopPolling();
          this.openStream();
          return;
        }
      } catch {
        if (controller.signal.aborted) return;
        errors += 1;
        this.options.onFailure?.();
        if (mode === 'polling') this.options.onState('polling', 'the server cannot be reached: retrying');
        await sleep(Math.min(1000 * errors, 5000), controller.signal);
      }
    }
  }

  stopPolling() {
    this.pollAbort?.abort();
    this.pollAbort = null;
  }
}
