import { padPosition } from './positions.ts';

/**
 * The join behind `EventSearch`: index sources in position order, each able to jump forward, intersected
 * zig-zag under a budget of entries examined per call.
 */

/** One index entry: an event by its position (and its row's key, where the index holds it). */
export interface Hit {
  /** Padded position. */
  position: string;
  jobId?: string;
  seq?: number;
}

/** Counts what a call examines; once spent, the call returns what it found with a cursor to go on from. */
export class Budget {
  #left: number;
  constructor(size: number) {
    this.#left = size;
  }
  spend(): void {
    this.#left--;
  }
  get spent(): boolean {
    return this.#left <= 0;
  }
}

/** Entries a source steps through before it re-seeks with a fresh range: dense sources step, sparse ones jump. */
const STEPS_BEFORE_SEEK = 2;

/**
 * One index, in position order, able to jump forward: `seek(target)` is the first entry at or after
 * `target` (targets never decrease).
 */
export class IndexSource {
  #iterator: Iterator<Hit> | null = null;
  #head: Hit | null = null;
  readonly #open: (from: string) => Iterator<Hit>;
  readonly #budget: Budget;

  constructor(
    open: (from: string) => Iterator<Hit>,
    budget: Budget,
    private readonly stepsBeforeSeek = STEPS_BEFORE_SEEK,
  ) {
    this.#open = open;
    this.#budget = budget;
  }

  seek(target: string): Hit | null {
    if (this.#iterator) {
      if (this.#head === null || this.#head.position >= target) return this.#head;
      for (let i = 0; i < this.stepsBeforeSeek; i++) {
        const hit = this.#advance();
        if (hit === null || hit.position >= target) return hit;
      }
      this.#iterator.return?.();
    }
    this.#iterator = this.#open(target);
    return this.#advance();
  }

  close(): void {
    this.#iterator?.return?.();
  }

  #advance(): Hit | null {
    this.#budget.spend();
    const next = (this.#iterator as Iterator<Hit>).next();
    this.#head = next.done ? null : next.value;
    return this.#head;
  }
}

export interface Source {
  seek(target: string): Hit | null;
  close(): void;
}

/** Several indexes of one field (e.g. two types): the lowest head of any. */
export function unionOf(sources: Source[]): Source {
  return {
    seek(target) {
      let min: Hit | null = null;
      for (const s of sources) {
        const hit = s.seek(target);
        if (hit && (min === null || hit.position < min.position)) min = hit;
      }
      return min;
    },
    close() {
      for (const s of sources) s.close();
    },
  };
}

/**
 * The positions present in every source, in order, from `from` on: a zig-zag join, where each source jumps
 * to the highest head seen so far, so the cost follows the most selective filter rather than the log.
 * Stops when the budget is spent and tells where to resume (every match below it was produced).
 */
export function* intersection(
  sources: Source[],
  from: string,
  budget: Budget,
): Generator<Hit, string | null> {
  let target = from;
  for (;;) {
    if (budget.spent) return target;
    let agreed: Hit | null = null;
    for (const s of sources) {
      const hit = s.seek(target);
      if (hit === null) return null;
      if (hit.position !== target) {
        target = hit.position;
        agreed = null;
        break;
      }
      agreed = hit;
    }
    if (agreed) {
      yield agreed;
      target = nextPosition(target);
    }
  }
}

export function mapIterator<A, B>(iterator: Iterator<A>, f: (a: A) => B): Iterator<B> {
  return {
    next() {
      const next = iterator.next();
      return next.done ? { done: true, value: undefined } : { done: false, value: f(next.value) };
    },
    return() {
      iterator.return?.();
      return { done: true, value: undefined };
    },
  };
}

export function nextPosition(padded: string): string {
  return padPosition((BigInt(padded === '' ? '-1' : padded) + 1n).toString());
}
