import { z } from 'zod';
import type { Logger } from '../log.js';
import type { Clock } from '../core/clock.js';
import { errorCode, errorMessage } from '../errors.js';
import type { Registration } from '../core/ports.js';
import type { StatusDocument } from '../core/status.js';
import type { DmsClient } from '../dms/client.js';
import type { RegistrationClient } from './registration.js';
import type { AgentTuning } from './tuning.js';
import { clockSkewFromServerTime } from './clock-skew.js';
import { timeouts } from '../core/timeouts.js';

const heartbeatAnswerSchema = z.object({
  serverTime: z.string(),
  actions: z.array(z.string()).default([]),
});

export type HeartbeatAction = 'resync-images' | 'reregister';

/** The status fields of a heartbeat body (PROTOCOL §2), everything but seq and sentAt, read off the status document. */
export function heartbeatFields(doc: StatusDocument) {
  const agent = doc.managementAgent;
  return {
    version: doc.version,
    uptimeSeconds: doc.uptimeSeconds,
    control: { connected: agent.control.connected, since: agent.control.since },
    cert: doc.cert,
    cache: doc.cache,
    images: doc.images,
    devices: doc.devices,
    tasks: doc.tasks,
    outboxDepth: agent.outboxDepth,
  };
}

export interface HeartbeatDeps {
  readonly http: DmsClient;
  readonly registration: RegistrationClient;
  /** The status fields of the heartbeat body (everything but seq and sentAt). */
  readonly body: () => ReturnType<typeof heartbeatFields>;
  readonly nextSeq: () => number;
  readonly onAction: (action: HeartbeatAction) => void;
  readonly log: Logger;
  readonly clock: Clock;
  readonly tuning: AgentTuning;
  /** Heartbeats wait for this first, so the body never reports a part that is still loading (the phone certificate). */
  readonly holdUntil?: Promise<unknown> | undefined;
}

/**
 * Heartbeats (PROTOCOL §2): the first right after registration, then every interval the
 * DMS asked for (never faster than the minimum), whatever the control channel is doing.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private inFlight: Promise<void> | undefined;
  lastOkAt: number | undefined;
  sent = 0;

  constructor(private readonly deps: HeartbeatDeps) {}

  start(): void {
    this.stopped = false;
    this.deps.registration.onChange(() => this.beatSoon());
    if (this.deps.registration.current()) this.beatSoon();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  intervalMs(reg: Registration | undefined): number {
    return Math.max(
      this.deps.tuning.heartbeatMinIntervalMs,
      reg?.heartbeatIntervalSeconds !== undefined ? reg.heartbeatIntervalSeconds * 1000 : timeouts.heartbeatDefaultInterval.ms,
    );
  }

  private beatSoon(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), 0);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    if (this.deps.holdUntil) await this.deps.holdUntil;
    if (this.stopped) return;
    const reg = this.deps.registration.current();
    if (reg && !this.inFlight) {
      this.inFlight = this.beat(reg).finally(() => {
        this.inFlight = undefined;
      });
      try {
        await this.inFlight;
      } catch (err) {
        // Building the beat failed (not the call): the next one is still scheduled below.
        this.deps.log.warn({ err: errorMessage(err) }, 'heartbeat could not be built; the next one goes out on schedule');
      }
    }
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), this.intervalMs(this.deps.registration.current() ?? reg));
  }

  private async beat(reg: Registration): Promise<void> {
    const body = { seq: this.deps.nextSeq(), sentAt: new Date(this.deps.clock.now()).toISOString(), ...this.deps.body() };
    this.sent++;
    let res;
    try {
      res = await this.deps.http.postJson(`api/v1/relays/${encodeURIComponent(reg.relayId)}/heartbeat`, body, reg.token);
    } catch (err) {
      const code = errorCode(err);
      this.deps.log[code === 'CLOCK_SKEW' ? 'error' : 'warn']({ code, seq: body.seq }, `heartbeat failed: ${errorMessage(err)}`);
      return;
    }
    if (res.status === 401) {
      this.deps.registration.invalidate('heartbeat answered 401');
      return;
    }
    if (res.status !== 200) {
      this.deps.log.warn({ code: 'HEARTBEAT_REFUSED', status: res.status, seq: body.seq }, `the DMS answered the heartbeat with HTTP ${res.status}`);
      return;
    }
    const parsed = heartbeatAnswerSchema.safeParse(res.body);
    if (!parsed.success) {
      this.deps.log.warn(
        { code: 'DMS_BAD_RESPONSE', seq: body.seq },
        `the DMS heartbeat answer is invalid: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? ''}`,
      );
      return;
    }
    this.lastOkAt = this.deps.clock.now();
    const skew = clockSkewFromServerTime(parsed.data.serverTime, this.deps.clock.now(), this.deps.tuning.clockSkewToleranceMs);
    if (skew) this.deps.log.error({ code: skew.code, ...skew.details }, skew.message);
    this.deps.log.debug({ seq: body.seq, actions: parsed.data.actions }, 'heartbeat sent');
    for (const action of parsed.data.actions) {
      if (action === 'resync-images' || action === 'reregister') this.deps.onAction(action);
      else this.deps.log.warn({ code: 'HEARTBEAT_UNKNOWN_ACTION', action: action.slice(0, 64) }, 'the DMS asked for an action this relay does not know; ignored');
    }
  }
}
