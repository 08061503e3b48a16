import type { ErrorCode } from './error-catalogue.js';

/**
 * Every error the relay raises on purpose is a RelayError whose code is a key of the error
 * catalogue (`src/core/error-catalogue.ts`): the code is what admins search for, the message
 * is the detail of this occurrence.
 */
export class RelayError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    this.details = options?.details;
  }
}
