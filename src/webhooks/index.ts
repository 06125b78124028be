export type { ErrorClass } from './attemptError.ts';
export { ERROR_CLASSES } from './attemptError.ts';
export { retrySchedule, withJitter } from './retrySchedule.ts';
export type { AttemptResult, SendOptions } from './sendWebhook.ts';
export { sendWebhook } from './sendWebhook.ts';
export type { Resolve, TargetGuard } from './targetGuard.ts';
export { isTargetDeniedError, TargetDeniedError } from './targetGuard.ts';
export type {
  NewWebhookEndpoint,
  WebhookDeliveryView,
  WebhookEndpointView,
  WebhookServiceOptions,
} from './webhookService.ts';
export { WebhookError, WebhookService } from './webhookService.ts';
export { generateWebhookSecret, signWebhook } from './webhookSignature.ts';
export type { DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint } from './webhookStore.ts';
