export type { AppendListener } from './appendTail.ts';
export type { LmdbEventStoreSettings, LmdbEventStoreStats, WaitForAppendOptions } from './lmdbEventStore.ts';
export { LmdbEventStore } from './lmdbEventStore.ts';
export { DURABLE_ENV_OPTIONS } from './lmdbLayout.ts';
export type { OpenLmdbEventStoreOptions } from './openLmdbEventStore.ts';
export { DEFAULT_BATCH_SIZE, DEFAULT_POLL_INTERVAL_MS, openLmdbEventStore } from './openLmdbEventStore.ts';
