import type { OutboundBodies, OutboundType } from './outbound-frames.js';
import { RelayError } from './relay-error.js';

/**
 * Seams every part may use to talk to the DMS without knowing the management agent:
 * the durable outbox, the current registration, and how a frame handler refuses a frame.
 * The management agent implements them; the composition root hands them to the parts.
 */

/** Durable relay → DMS queue. Returns the frame id. */
export interface Outbox {
  enqueue<T extends OutboundType>(type: T, body: OutboundBodies[T]): string;
  depth(): number;
}

/**
 * A frame handler either accepts a frame (returns void) or throws this with a reason that
 * becomes a nack. Handlers run synchronously inside the store transaction that records the
 * frame, so "stored before ack" covers their own writes too; long work must be scheduled,
 * not awaited, from a handler.
 */
export class FrameRefused extends RelayError {
  constructor(readonly reason: string) {
    super('FRAME_REFUSED', reason);
  }
}

/** Registration facts other parts need (the proxy needs provisioningUrl, tasks need the site). */
export interface Registration {
  readonly relayId: string;
  readonly token: string;
  readonly tokenExpiresAt: string;
  readonly heartbeatIntervalSeconds: number;
  readonly controlUrl: string;
  readonly provisioningUrl: string;
  readonly site: { readonly id: string; readonly name: string; readonly subnets: readonly string[]; readonly siteSpecific: boolean };
}

/** The current registration, for parts that call the DMS (proxy, image downloads, file uploads). */
export interface RegistrationSource {
  current(): Registration | undefined;
  /** Called after every successful (re)registration. */
  onChange(listener: (reg: Registration) => void): void;
}
