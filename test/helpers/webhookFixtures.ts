import type { WebhookEndpoint } from '../../src/webhooks/webhookStore.ts';
import { HEALTHY_ENDPOINT } from '../../src/webhooks/webhookStore.ts';

/** A registered API endpoint with no filters and no failures; `over` changes any field. */
export const testEndpoint = (over: Partial<WebhookEndpoint> = {}): WebhookEndpoint => ({
  id: 'wh_1',
  url: 'http://192.0.2.10/hook',
  description: null,
  event_types: [],
  jobs: [],
  pipelines: [],
  source: 'api',
  secret: 'whsec_x',
  created_at: '2026-01-01T00:00:00.000Z',
  created_position: null,
  ...HEALTHY_ENDPOINT,
  ...over,
});
