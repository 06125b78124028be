import { OperatorError } from '../../../domain/errors.ts';

/** Any call on a store after `close()`. */
export class EventStoreClosedError extends OperatorError {
  constructor() {
    super('event_store_closed', 'the event store is closed', 'unavailable');
  }
}

/** A malformed stream name, position, revision, option or event given to the store. */
export class InvalidEventStoreArgumentError extends OperatorError {
  constructor(message: string, details?: unknown) {
    super('invalid_event_store_argument', message, 'invalid', details);
  }
}

export const isEventStoreClosedError = (e: unknown): e is EventStoreClosedError =>
  e instanceof EventStoreClosedError;
