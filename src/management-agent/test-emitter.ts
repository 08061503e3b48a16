import type { Logger } from '../log.js';
import type { KvStore } from '../store/kv.js';
import type { OutboxRepository } from '../store/outbox.js';
import type { Outbox } from '../core/ports.js';

/** Environment variable that turns the emitter on: the number of frames to produce. */
export const TEST_EMIT_ENV = 'CLOUD_RELAY_TEST_EMIT';
/** Frames per second (default 1000). */
export const TEST_EMIT_RATE_ENV = 'CLOUD_RELAY_TEST_EMIT_RATE';
const TICK_MS = 10;
const PROGRESS_KEY = 'test.emitted';

/**
 * TEST-ONLY load source for the "nothing lost" test and benchmarks: when
 * CLOUD_RELAY_TEST_EMIT=N is set (optionally CLOUD_RELAY_TEST_EMIT_RATE frames/s), the relay puts N `device.event` frames (event.n = 0…N-1)
 * into its real outbox, a small batch per tick. Progress is committed in the same
 * transaction as the frames, so a relay killed mid-run resumes where it stopped and each n
 * is enqueued exactly once. Production never sets the variable.
 */
export class TestEmitter {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly total: number,
    private readonly outbox: Outbox,
    private readonly repo: OutboxRepository,
    private readonly kv: KvStore,
    private readonly log: Logger,
    private readonly ratePerSecond = 1000,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv): { total: number; rate: number } | undefined {
    const v = env[TEST_EMIT_ENV];
    if (v === undefined || !/^\d+$/.test(v)) return undefined;
    const r = env[TEST_EMIT_RATE_ENV];
    const rate = r !== undefined && /^\d+$/.test(r) && Number(r) > 0 ? Number(r) : 1000;
    return { total: Math.min(Number(v), 1_000_000), rate };
  }

  private get batch(): number {
    return Math.max(1, Math.ceil((this.ratePerSecond * TICK_MS) / 1000));
  }

  start(): void {
    this.log.warn({ total: this.total, rate: this.ratePerSecond }, `${TEST_EMIT_ENV} is set: emitting test frames into the outbox (test-only)`);
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private tick(): void {
    const done = this.repo.transaction(() => {
      const from = Number(this.kv.get(PROGRESS_KEY) ?? '0');
      const to = Math.min(this.total, from + this.batch);
      for (let n = from; n < to; n++) this.outbox.enqueue('device.event', { ip: '127.0.0.1', event: { kind: 'test', n } });
      this.kv.set(PROGRESS_KEY, String(to));
      return to >= this.total;
    });
    if (done) {
      this.stop();
      this.log.info({ total: this.total }, 'test emitter finished');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
