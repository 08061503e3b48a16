import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb } from '../../src/store/db.js';
import { DeviceWork } from '../../src/device-work/device-work.js';
import { FrameRefused, type Outbox } from '../../src/core/ports.js';
import { inboundFrameSchema, type InboundOf } from '../../src/management-agent/frames.js';
import { createLogger } from '../../src/log.js';
import { tempDir } from '../helpers/relay-config.js';
import { noUploads } from '../helpers/devices.js';

/** devices.backlog bounds the device commands a relay accepts; beyond it task.submit is refused with a reason. */
describe('task backlog', () => {
  const dir = tempDir('cr-backlog-');
  const db = openDb(join(dir, 'data'));
  // The outbox port only counts here; the durable outbox has its own tests.
  const outbox: Outbox = { enqueue: () => 'x', depth: () => 0 };
  const work = new DeviceWork({
    config: {
      devices: {
        tlsPolicy: 'insecure',
        concurrency: 2,
        backlog: 3,
        requestTimeoutMs: 1_000,
        pollIntervalSeconds: 7200,
        upgradePollMs: 5_000,
        upgradeTimeoutSeconds: 1_200,
        rolloutIdleRecheckSeconds: 60,
      },
      dataDir: join(dir, 'data'),
    },
    db,
    outbox,
    registration: { current: () => undefined, onChange: () => undefined },
    clock: { now: () => Date.now() },
    log: createLogger('silent'),
    files: noUploads,
    relayBaseUrl: () => undefined,
    poll: false,
  });

  afterAll(async () => {
    await work.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const submit = (taskId: string, n: number, executeAt?: string): InboundOf<'task.submit'> => {
    const targets = Array.from({ length: n }, (_, i) => ({
      deviceId: `${taskId}-${i}`,
      mac: `0004f2${String(i).padStart(6, '0')}`,
      ip: '127.20.250.1',
      port: 9,
      vendor: 'polycom',
      credentials: { user: 'Polycom', password: '456' },
    }));
    const f = inboundFrameSchema.parse({
      v: 1,
      id: taskId,
      ts: new Date().toISOString(),
      type: 'task.submit',
      taskId,
      command: { kind: 'reboot' },
      targets,
      ...(executeAt ? { executeAt } : {}),
    });
    if (f.type !== 'task.submit') throw new Error('unexpected');
    return f;
  };

  it('refuses an immediate task that would exceed the backlog, accepts a scheduled one, and refuses a duplicate taskId', () => {
    const h = work.handlers()['task.submit']!;
    // Executing tasks count: one with two open devices (the runner is not started, so they stay open).
    h(submit('a', 2));
    expect(work.tasks.start('a', Date.now())).toBe(true);
    expect(() => h(submit('b', 2))).toThrow(FrameRefused);
    expect(() => h(submit('b', 2))).toThrow(/backlog full: 2 device commands waiting, 2 more would exceed devices.backlog=3/);
    expect(() => h(submit('c', 1))).not.toThrow();
    expect(() => h(submit('d', 5, new Date(Date.now() + 3_600_000).toISOString()))).not.toThrow();
    expect(() => h(submit('a', 1))).toThrow(/task a already exists/);
  });
});
