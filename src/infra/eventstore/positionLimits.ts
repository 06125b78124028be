/**
 * The greatest position each store adapter takes, for a caller that checks one before it opens the store
 * (the CLI's `--from` / `--to`): LMDB numbers its events with JS numbers, exact up to 2^53 - 1;
 * EventStoreDB's commit positions are uint64 byte offsets in its transaction log.
 */
export const MAX_POSITION = {
  lmdb: { value: 2n ** 53n - 1n, text: '2^53 - 1' },
  eventstoredb: { value: 2n ** 64n - 1n, text: '2^64 - 1' },
} as const;

export type PositionLimit = (typeof MAX_POSITION)[keyof typeof MAX_POSITION];
