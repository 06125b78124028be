export type { BackoffOptions } from './backoff.ts';
export { isTransientError } from './esdbErrors.ts';
export type { EsdbEventStoreSettings } from './esdbEventStore.ts';
export { EsdbEventStore } from './esdbEventStore.ts';
export type { RetryInfo } from './esdbSubscription.ts';
export type { OpenEsdbEventStoreOptions } from './openEsdbEventStore.ts';
export { DEFAULT_ESDB_PAGE_SIZE, openEsdbEventStore } from './openEsdbEventStore.ts';
export { formatPosition, parsePosition } from './positions.ts';
