import { setTimeout as sleep } from 'node:timers/promises';
import { isWrongExpectedRevisionError } from '../infra/eventstore/eventStore.ts';
import { setLongTimeout } from '../infra/longTimeout.ts';
import { redactedUrl } from '../infra/net/redactedUrl.ts';
import { comparePositions, isAtOrBelow } from '../projections/index.ts';
import { afterAttempt } from './deliveryOutcome.ts';
import { sendWebhook } from './sendWebhook.ts';
import type { WebhookDispatcherOptions } from './webhookDispatcher.ts';
import type { StoredCheckpoint } from './webhookLog.ts';
import type { WebhookDelivery, WebhookEndpoint } from './webhookRecords.ts';
import { signWebhook } from './webhookSignature.ts';

const USER_AGENT = 'operator-events-webhooks/1';

/**
 * The sender of one endpoint: its pending deliveries one at a time, in position order, each retried on the
 * schedule until delivered or given up; the checkpoint in the event store moves with each. Ends when there
 * is nothing left to send (a later wake starts another).
 */
export class EndpointWorker {
  #poked = false;
  #stopping = false;
  /** Set (synchronously) when the loop decides to end: a later wake starts a new worker. */
  finished = false;
  #wakeUp: (() => void) | null = null;
  #abort = new AbortController();
  #cancelGrace: (() => void) | null = null;
  #ended = false;
  #done: Promise<void> = Promise.resolve();

  constructor(
    readonly endpointId: string,
    readonly options: WebhookDispatcherOptions,
    readonly now: () => number,
  ) {}

  get done(): Promise<void> {
    return this.#done;
  }

  run(): Promise<void> {
    this.#done = this.#loop()
      .catch((error: unknown) => {
        this.finished = true;
        this.options.logger?.error(
          { err: error, endpoint: this.endpointId },
          'webhooks: worker stopped on an error',
        );
      })
      .finally(() => {
        this.#ended = true;
        this.#cancelGrace?.();
      });
    return this.#done;
  }

  poke(): void {
    this.#poked = true;
    this.#wakeUp?.();
  }

  /**
   * Sends nothing more. An attempt in flight has `graceMs` to get its answer, which is then recorded (and
   * acknowledged in the store) as usual, so a clean stop does not send it twice; after that it is cut, and
   * being recorded nowhere, it is sent again by whoever sends next: at least once.
   */
  stop(graceMs = 0): void {
    this.#stopping = true;
    this.#wakeUp?.();
    if (graceMs <= 0) this.#abort.abort();
    // Kept referenced: `stop` resolves once the loop ends, which the cut may be what brings about.
    else if (!this.#ended) this.#cancelGrace ??= setLongTimeout(() => this.#abort.abort(), graceMs);
  }

  async #loop(): Promise<void> {
    const { store } = this.options;
    while (!this.#stopping) {
      this.#poked = false;
      const endpoint = store.endpoint(this.endpointId);
      const head = endpoint?.enabled ? store.headPending(this.endpointId) : undefined;
      if (!endpoint || !head) {
        // Nothing to send (deleted, disabled or idle): the worker ends; new work or `enable` starts another.
        this.finished = true;
        return;
      }
      if (await this.#acknowledgedElsewhere(head)) continue;
      const wait = Date.parse(head.next_attempt_at ?? '') - this.now();
      if (wait > 0) {
        await this.#sleep(wait);
        continue;
      }
      // Stopped while this turn read the store: nothing new goes out (nor is signed).
      if (this.#stopping) return;
      await this.#attempt(endpoint, head);
    }
  }

  /** The store's checkpoint of this endpoint as this worker last read or wrote it. */
  #stored: StoredCheckpoint | null = null;

  async #checkpoint(): Promise<StoredCheckpoint | null> {
    const { log } = this.options;
    if (!log) return null;
    this.#stored ??= await log.readCheckpoint(this.endpointId);
    return this.#stored;
  }

  /**
   * A pending row the endpoint's checkpoint in the store has passed: another process (the leader before a
   * takeover) delivered it, or gave up on it, and acknowledged it. It is not sent again; its row takes the
   * outcome once the acknowledgement is projected here.
   */
  async #acknowledgedElsewhere(head: WebhookDelivery): Promise<boolean> {
    let stored: StoredCheckpoint | null;
    try {
      stored = await this.#checkpoint();
    } catch (error) {
      this.options.logger?.warn(
        { err: error, endpoint: this.endpointId },
        'webhooks: cannot read the delivery checkpoint; retrying',
      );
      await this.#sleep(1000);
      return true;
    }
    if (!stored || head.redelivery || !isAtOrBelow(head.position, stored.checkpoint)) return false;
    await this.options.store.updateDelivery(this.endpointId, head.position, (d, e) => ({
      delivery:
        d.status === 'pending' && !d.redelivery ? { ...d, status: 'delivered', next_attempt_at: null } : d,
      endpoint: e,
    }));
    return true;
  }

  /**
   * Records in the store that this delivery is done (delivered, or failed for good), with the expected
   * revision: false when that could not be written (the row stays pending and is sent again: at least once).
   */
  async #acknowledge(after: WebhookDelivery): Promise<boolean> {
    const { log, logger } = this.options;
    const delivery = after;
    if (!log || after.status === 'pending') return true;
    for (let tries = 0; tries < 3 && !this.#abort.signal.aborted; tries++) {
      try {
        const stored = (await this.#checkpoint()) as StoredCheckpoint;
        const checkpoint =
          stored.checkpoint !== null && comparePositions(stored.checkpoint, delivery.position) > 0
            ? stored.checkpoint
            : delivery.position;
        const written = await log.checkpoint(
          this.endpointId,
          {
            type: 'webhook_delivery_acknowledged',
            endpoint_id: this.endpointId,
            position: delivery.position,
            event_id: delivery.event_id,
            status: after.status,
            at: new Date(this.now()).toISOString(),
            attempt_count: after.attempt_count,
            status_code: after.attempts.at(-1)?.status_code ?? null,
            redelivery: delivery.redelivery === true,
            checkpoint,
          },
          stored.revision,
        );
        this.#stored = { revision: written.revision, checkpoint, exists: true };
        return true;
      } catch (error) {
        // Someone else wrote the checkpoint (a sender that had not yet seen it lost the lease): read again.
        this.#stored = null;
        if (!isWrongExpectedRevisionError(error)) {
          logger?.warn(
            { err: error, endpoint: this.endpointId },
            'webhooks: cannot write the delivery checkpoint',
          );
          await sleep(200 * 2 ** tries);
        }
      }
    }
    return false;
  }

  async #attempt(endpoint: WebhookEndpoint, delivery: WebhookDelivery): Promise<void> {
    const { store, policy, logger } = this.options;
    const timestamp = Math.floor(this.now() / 1000);
    let secret: string;
    try {
      secret = this.options.secretOf ? this.options.secretOf(endpoint) : (endpoint.secret as string);
    } catch (error) {
      // A key this process lacks (or another than the one that sealed it): nothing can be signed here.
      logger?.error(
        { endpoint: endpoint.id, err: error },
        'webhooks: cannot open the endpoint secret; retrying in a minute',
      );
      await this.#sleep(60_000);
      return;
    }
    const headers = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'webhook-id': delivery.event_id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signWebhook(secret, delivery.event_id, timestamp, delivery.body),
    };
    const send = this.options.send ?? sendWebhook;
    const result = await send(new URL(endpoint.url), headers, delivery.body, {
      ...this.options.guard,
      timeoutMs: this.options.timeoutMs,
      signal: this.#abort.signal,
    });
    // Cut by the stop: the answer, if one came, is unknown here.
    if (this.#abort.signal.aborted) return;
    const at = this.now();
    let finished: WebhookDelivery | null = null;
    const outcome = await store.updateDelivery(this.endpointId, delivery.position, (d, e) => {
      // A redelivery or a re-enable may have changed the row while the request was out: record the
      // attempt either way, but only let it move a delivery that is still the one that was sent.
      if (d.status !== 'pending') return { delivery: d, endpoint: e };
      const next = afterAttempt(d, e, result, at, policy);
      if (next.delivery.status !== 'pending')
        finished = { ...next.delivery, redelivery: d.redelivery === true };
      return next;
    });
    this.options.onAttempt?.(endpoint, delivery, result);
    if (!outcome) return;
    // Then the store hears of it: a crash (or a takeover) before that sends it again, at least once. An
    // acknowledgement that cannot be written is covered by the next one (a checkpoint covers what is below).
    if (finished && !(await this.#acknowledge(finished)))
      logger?.warn(
        { endpoint: endpoint.id, delivery: delivery.id },
        'webhooks: delivery checkpoint not written; another leader would send this delivery again',
      );
    const { delivery: after, endpoint: now } = outcome;
    if (result.error !== null)
      logger?.warn(
        {
          endpoint: endpoint.id,
          url: redactedUrl(endpoint.url),
          delivery: delivery.id,
          event_id: delivery.event_id,
          status_code: result.status_code,
          error_class: result.error_class,
          error: result.error,
          attempt: after.attempt_count,
          next_attempt_at: after.next_attempt_at,
        },
        after.status === 'failed'
          ? 'webhooks: delivery failed for good'
          : 'webhooks: delivery attempt failed',
      );
    if (endpoint.enabled && !now.enabled) {
      await this.options.log
        ?.register({
          type: 'webhook_endpoint_disabled',
          endpoint_id: now.id,
          at: now.disabled_at ?? new Date(at).toISOString(),
          reason: now.disabled_reason ?? 'failing for too long',
        })
        .catch((error: unknown) =>
          logger?.error(
            { err: error, endpoint: now.id },
            'webhooks: cannot record the disable in the registry',
          ),
        );
      logger?.error(
        { endpoint: now.id, url: redactedUrl(now.url), reason: now.disabled_reason },
        `webhooks: endpoint disabled (${now.disabled_reason ?? 'failing for too long'}); POST /api/v1/webhooks/{id}/enable resumes it`,
      );
      this.options.onDisabled?.(now);
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#poked || this.#stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const cancel = setLongTimeout(done, ms);
      function done() {
        cancel();
        resolve();
      }
      this.#wakeUp = () => {
        this.#wakeUp = null;
        done();
      };
    });
  }
}
