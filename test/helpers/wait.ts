import type { EventEmitter } from 'node:events';

export interface WaitOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Poll period (default 20 ms). */
  intervalMs?: number;
  /** Said in the timeout error, so a failing test explains itself. */
  message?: string;
}

/**
 * Polls until `predicate` returns a truthy value (returned) or the deadline passes (throws).
 * For conditions that have no event; where an event exists, use waitForEvent.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await predicate();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms: ${opts.message ?? 'condition not met'}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the first payload of `event` that passes `filter`, or rejects at the deadline. */
export function waitForEvent<T = unknown>(emitter: EventEmitter, event: string, filter: (payload: T) => boolean = () => true, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const onEvent = (payload: T) => {
      if (!filter(payload)) return;
      clearTimeout(timer);
      emitter.off(event, onEvent);
      resolve(payload);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`waitForEvent timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    emitter.on(event, onEvent);
  });
}
