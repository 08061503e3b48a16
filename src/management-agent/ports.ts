import type { InboundOf, OutboundBodies, OutboundType } from './frames.js';
import { RelayError } from '../core/relay-error.js';

/**
 * The seams between the control channel and the work it carries. The channel owns
 * transport, persistence and dedupe; the handlers own meaning. Handlers run synchronously
 * inside the store transaction that records the frame, so "stored before ack" covers their
 * own writes too; long work must be scheduled, not awaited, from a handler.
 */

/** Durable relay → DMS queue. Returns the frame id. */
export interface Outbox {
  enqueue<T extends OutboundType>(type: T, body: OutboundBodies[T]): string;
  depth(): number;
}

/** A handler either accepts a frame (returns void) or refuses it with a reason that becomes a nack. */
export class FrameRefused extends RelayError {
  constructor(readonly reason: string) {
    super('FRAME_REFUSED', reason);
  }
}

export interface InboundHandlers {
  'task.submit'?: (frame: InboundOf<'task.submit'>) => void;
  'task.update'?: (frame: InboundOf<'task.update'>) => void;
  'task.delete'?: (frame: InboundOf<'task.delete'>) => void;
  'images.sync'?: (frame: InboundOf<'images.sync'>) => void;
  'cert.install'?: (frame: InboundOf<'cert.install'>) => void;
  'rollout.submit'?: (frame: InboundOf<'rollout.submit'>) => void;
  'rollout.update'?: (frame: InboundOf<'rollout.update'>) => void;
  'rollout.pause'?: (frame: InboundOf<'rollout.pause'>) => void;
  'rollout.resume'?: (frame: InboundOf<'rollout.resume'>) => void;
  'rollout.cancel'?: (frame: InboundOf<'rollout.cancel'>) => void;
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
