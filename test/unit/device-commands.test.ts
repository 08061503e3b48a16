import { afterAll, describe, expect, it } from 'vitest';
import { COMMAND_KINDS, NOT_REPEATABLE, READ_ONLY, runCommand, type CommandContext, type CommandKind } from '../../src/devices/commands.js';
import type { CachedImage, Driver } from '../../src/devices/driver.js';
import { DriverRegistry, VENDORS } from '../../src/devices/registry.js';
import { inboundFrameSchema } from '../../src/management-agent/frames.js';
import { createLogger } from '../../src/log.js';

const submit = (command: unknown) =>
  inboundFrameSchema.safeParse({
    v: 1,
    id: 'f',
    ts: new Date().toISOString(),
    type: 'task.submit',
    taskId: 't',
    command,
    targets: [{ deviceId: 'd', mac: '0004f2000001', ip: '127.20.0.1', vendor: 'polycom', credentials: { user: 'u', password: 'p' } }],
  });

describe('command table', () => {
  it('the frame schema takes every kind of the table, with its own argument schema', () => {
    expect(submit({ kind: 'updateFirmware', args: { imageId: 'img-1' } }).success).toBe(true);
    expect(submit({ kind: 'deployFile', args: { imageId: 'img-1', fileType: 'ringtone' } }).success).toBe(true);
    expect(submit({ kind: 'deployFile', args: { imageId: 'img-1', fileType: 'firmware' } }).success).toBe(false);
    expect(submit({ kind: 'updateFirmware', args: {} }).success).toBe(false);
    expect(submit({ kind: 'reboot' }).success).toBe(true);
    expect(submit({ kind: 'getParams', args: { names: Array.from({ length: 21 }, (_, i) => `p${i}`) } }).success).toBe(false);
    expect(submit({ kind: 'format-c' }).success).toBe(false);
  });

  it('derives the crash rule and the resend rule (PROTOCOL §3): dial, reboot, reset and pcapStart are never repeated', () => {
    expect([...NOT_REPEATABLE].sort()).toEqual(['dial', 'pcapStart', 'reboot', 'reset']);
    expect([...READ_ONLY].sort()).toEqual(['getConfig', 'getParams', 'screenCapture', 'status']);
  });
});

describe('updateFirmware through the table', () => {
  const target = { mac: '0004f2000001', ip: '127.20.0.1', model: 'VVX 450', credentials: { user: 'u', password: 'p' } };
  const images: Record<string, CachedImage & { synced: boolean }> = {
    fw7: { imageId: 'fw7', version: '7.0.1', path: '/fw/7.0.1/sip.ld', synced: true },
    fw8: { imageId: 'fw8', version: '8.0.0', path: '/fw/8.0.0/sip.ld', synced: false },
  };
  const asked: string[] = [];
  const driver: Driver = {
    readStatus: () => Promise.resolve({ online: true }),
    updateFirmware: (_t, image, mode) => {
      asked.push(`${image.imageId}:${mode}`);
      return Promise.resolve(
        image.version === '7.0.1'
          ? { outcome: 'success', fromVersion: '6.4.3', toVersion: '7.0.1', fetchedFromCache: true }
          : { outcome: 'success', alreadyCurrent: true, fromVersion: image.version, toVersion: image.version },
      );
    },
    close: () => Promise.resolve(),
  };
  const ctx = (): CommandContext => ({
    driver,
    target,
    fileStem: () => 'x',
    deliver: () => Promise.reject(new Error('unused')),
    collectCapture: () => Promise.reject(new Error('unused')),
    readStatus: () => Promise.resolve({ online: true }),
    image: (id) => images[id],
  });

  it('fails without asking the phone when the image is not in the set or not synced; otherwise names the versions', async () => {
    expect(await runCommand(ctx(), { kind: 'updateFirmware', args: { imageId: 'nope' } })).toMatchObject({
      outcome: 'failure',
      reason: expect.stringMatching(/not in the relay's desired image set/),
    });
    expect(await runCommand(ctx(), { kind: 'updateFirmware', args: { imageId: 'fw8' } })).toMatchObject({ outcome: 'failure', reason: expect.stringMatching(/^image not synced/) });
    expect(asked).toEqual([]);
    expect(await runCommand(ctx(), { kind: 'updateFirmware', args: { imageId: 'fw7' } })).toEqual({
      outcome: 'success',
      data: { imageId: 'fw7', version: '7.0.1', fromVersion: '6.4.3', toVersion: '7.0.1', alreadyCurrent: false, fetchedFromCache: true },
    });
    expect(asked).toEqual(['fw7:trigger']);
  });

  it('a phone already on the version is success "already current"', async () => {
    images.fw8 = { ...images.fw8!, synced: true };
    expect(await runCommand(ctx(), { kind: 'updateFirmware', args: { imageId: 'fw8' } })).toMatchObject({
      outcome: 'success',
      reason: 'already current',
      data: { alreadyCurrent: true },
    });
  });
});

/** The driver method each kind's table entry calls. */
const METHOD: Record<CommandKind, keyof Driver> = {
  dial: 'dial',
  reboot: 'reboot',
  reset: 'reset',
  getParams: 'getParams',
  setParams: 'setParams',
  getConfig: 'getConfig',
  screenCapture: 'screenCapture',
  pcapStart: 'pcapStart',
  pcapStop: 'pcapStop',
  pcapCancel: 'pcapCancel',
  adPassword: 'adPassword',
  checkSync: 'checkSync',
  status: 'readStatus',
  updateFirmware: 'updateFirmware',
  deployFile: 'deployFile',
};

describe('driver registry', () => {
  const registry = new DriverRegistry({
    tlsPolicy: 'insecure',
    requestTimeoutMs: 1_000,
    pins: { check: () => ({ ok: true }) },
    log: createLogger('silent'),
    phoneEvents: { event: () => undefined, refused: () => undefined },
  });

  afterAll(() => registry.close());

  it('an unknown vendor or an unsupported kind is refused with a reason naming the vendor', () => {
    expect(registry.choose('acme', 'reboot')).toEqual({ ok: false, reason: expect.stringMatching(/^acme phones/) });
    expect(registry.choose('openstage', 'dial')).toEqual({ ok: false, reason: expect.stringMatching(/dial is not supported on OpenStage phones/) });
    expect(registry.choose('polycom', 'deployFile')).toEqual({ ok: false, reason: expect.stringMatching(/deployFile is not supported on Polycom phones/) });
    expect(registry.choose('polycom', 'reboot').ok).toBe(true);
    expect(registry.statusDriver('acme')).toBeUndefined();
    expect(registry.statusDriver('openstage')).toBeDefined();
    expect(registry.statusDriver('polycom')).toBeDefined();
  });

  it('every kind a vendor claims has the driver method behind it, and every vendor names only kinds of the table', () => {
    for (const v of VENDORS) {
      for (const kind of v.supports) {
        expect(COMMAND_KINDS).toContain(kind);
        const c = registry.choose(v.vendor, kind);
        expect(c.ok && typeof c.driver[METHOD[kind]] === 'function', `${v.vendor} ${kind}`).toBe(true);
      }
    }
  });

  it('collects the phone-facing routes drivers contribute (Polycom telephony notifications)', () => {
    const routes = registry.routes();
    expect(routes.map((r) => r.name)).toContain('telephony-notifications');
    expect(routes.some((r) => r.matches('POST', '/telnotify'))).toBe(true);
  });
});
