import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb } from '../../src/store/db.js';
import { DeviceWork } from '../../src/device-work/device-work.js';
import type { RegistrationSource } from '../../src/core/ports.js';
import { inboundFrameSchema } from '../../src/management-agent/frames.js';
import { createLogger } from '../../src/log.js';
import { PhoneFarm } from '../../sim/phone/farm.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';
import { memoryOutbox, noUploads } from '../helpers/devices.js';

/**
 * The control channel starts before the task runner, so task frames can be stored before
 * start(). Such a task must run normally, not be mistaken for one a crash interrupted.
 */
describe('tasks stored before the runner starts', () => {
  const dir = tempDir('cr-early-');
  let farm: PhoneFarm | undefined;
  let work: DeviceWork | undefined;
  let db: ReturnType<typeof openDb> | undefined;

  afterAll(async () => {
    await work?.stop();
    db?.close();
    await farm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs them at start() with normal results', async () => {
    farm = await PhoneFarm.start({ count: 2, firstIndex: 7000 + (process.pid % 50) * 100, timing: { rebootOfflineMs: 100 } });
    db = openDb(join(dir, 'data'));
    const { outbox, sent } = memoryOutbox();
    const registration: RegistrationSource = { current: () => undefined, onChange: () => undefined };
    work = new DeviceWork({
      config: {
        devices: {
          tlsPolicy: 'pin-on-first-use',
          concurrency: 8,
          backlog: 100,
          requestTimeoutMs: 5_000,
          pollIntervalSeconds: 7200,
          upgradePollMs: 5_000,
          upgradeTimeoutSeconds: 1_200,
          rolloutIdleRecheckSeconds: 60,
        },
        dataDir: join(dir, 'data'),
      },
      db,
      outbox,
      registration,
      clock: { now: () => Date.now() },
      log: createLogger('silent'),
      files: noUploads,
      relayBaseUrl: () => undefined,
      poll: false,
    });
    const frame = inboundFrameSchema.parse({
      v: 1,
      id: 'f1',
      ts: new Date().toISOString(),
      type: 'task.submit',
      taskId: 't1',
      command: { kind: 'reboot', args: {} },
      targets: farm.targets(),
    });
    if (frame.type !== 'task.submit') throw new Error('unexpected frame');
    db.transaction(() => work!.handlers()['task.submit']!(frame))();
    await new Promise((r) => setImmediate(r));
    expect(farm.phone(0).hits.size).toBe(0); // stored, not run before start()
    await work.start();
    await waitFor(() => sent.filter((s) => s.type === 'task.result').length === 2, { message: 'two results' });
    for (const r of sent.filter((s) => s.type === 'task.result')) expect(r.body).toMatchObject({ outcome: 'success', data: { deferred: false } });
    expect(sent.at(-1)).toMatchObject({ type: 'task.state', body: { state: 'done', totals: { total: 2, success: 2 } } });
  });
});
