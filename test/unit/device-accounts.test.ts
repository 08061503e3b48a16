import { describe, expect, it } from 'vitest';
import { basicAuth } from '../../src/devices/polycom/transport.js';
import { DeviceError } from '../../src/devices/errors.js';
import { targetSchema } from '../../src/management-agent/frames.js';

/** A target's own credentials win; without them the vendor's relay-wide account; with neither nothing is sent. */
describe('device accounts', () => {
  const target = { mac: '0004f2000001', ip: '127.20.1.1', model: 'VVX 450' };
  const decode = (h: string) => Buffer.from(h.replace(/^Basic /, ''), 'base64').toString('utf8');

  it('a target may omit credentials', () => {
    expect(targetSchema.safeParse({ deviceId: 'd', ...target, vendor: 'polycom' }).success).toBe(true);
  });

  it("uses the target's own credentials over the default, else the default (user Polycom when it names none)", () => {
    expect(decode(basicAuth({ ...target, credentials: { user: 'Own', password: 'own-pw' } }, { user: 'Def', password: 'def-pw' }))).toBe('Own:own-pw');
    expect(decode(basicAuth(target, { user: 'Def', password: 'def-pw' }))).toBe('Def:def-pw');
    expect(decode(basicAuth(target, { user: '', password: 'def-pw' }))).toBe('Polycom:def-pw');
  });

  it('with neither, fails NO_CREDENTIALS before anything is sent', () => {
    let err: unknown;
    try {
      basicAuth(target, undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeviceError);
    expect(err).toMatchObject({ code: 'NO_CREDENTIALS', reached: false, message: expect.stringMatching(/^no credentials/) });
  });
});
