import type { Logger } from '../log.js';
import type { KvStore } from '../store/kv.js';
import type { OutboxRepository } from '../store/outbox.js';
import type { Outbox } from './ports.js';

/** Environment variable that turns the emitter on: the number of frames to produce. */
export const TEST_EMIT_ENV = 'CLOUD_RELAY_TEST_EMIT';
const PROGRESS_KEY = 'test.emitted';

/**
 * TEST-ONLY load source for the "nothing lost" test and benchmarks: when
 * CLOUD_RELAY_TEST_EMIT=N is set, the relay puts N `device.event` frames (event.n = 0…N-1)
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
    private readonly batch = 10,
    private readonly everyMs = 5,
  ) {}

  static fromEnv(env: NodeJS.ProcessEnv): number | undefined {
    const v = env[TEST_EMIT_ENV];
    if (v === undefined || !/^\d+$/.test(v)) return undefined;
    return Math.min(Number(v), 1_000_000);
  }

  start(): void {
    this.log.warn({ total: this.total }, `${TEST_EMIT_ENV} is set: emitting test frames into the outbox (test-only)`);
    this.timer = setInterval(() => this.tick(), this.everyMs);
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
