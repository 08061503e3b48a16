import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';

function capture() {
  const lines: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      cb();
    },
  });
  return { log: createLogger('trace', dest), lines };
}

const SECRETS = {
  pin: 'PIN-493027',
  token: 'TOKEN-eyJhbGciOi',
  passphrase: 'PASS-correct-horse',
  authorization: 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==',
  password: 'PW-device-admin',
};

describe('log redaction', () => {
  it('hides PIN, token, passphrase, Authorization and passwords wherever the relay logs them', () => {
    const { log, lines } = capture();
    log.info({ pin: SECRETS.pin, tenantId: 't-1' }, 'registering');
    log.info({ registration: { token: SECRETS.token, relayId: 'r-1' } }, 'registered');
    log.info({ token: SECRETS.token }, 'token');
    log.warn({ pfxPassphrase: SECRETS.passphrase }, 'pfx');
    log.warn({ frame: { passphrase: SECRETS.passphrase, type: 'cert.install' } }, 'frame');
    log.info({ headers: { authorization: SECRETS.authorization } }, 'upstream');
    log.info({ req: { headers: { authorization: SECRETS.authorization } } }, 'phone request');
    log.info({ Authorization: `Bearer ${SECRETS.token}` }, 'header');
    log.info({ target: { credentials: { user: 'admin', password: SECRETS.password } } }, 'device');
    log.info({ frame: { targets: { credentials: { password: SECRETS.password } } } }, 'task');
    log.info({ password: SECRETS.password }, 'plain');
    log.info({ args: { password: SECRETS.password } }, 'adPassword');
    log.flush();

    expect(lines.length).toBe(12);
    const all = lines.join('\n');
    for (const [name, secret] of Object.entries(SECRETS)) expect(all, name).not.toContain(secret);
    expect(all).not.toContain('QWxhZGRpbjpvcGVuIHNlc2FtZQ');
    // Redaction replaces the value but keeps the key, so a reader sees a secret was there.
    expect(all).toContain('[redacted]');
    // Non-secret context survives.
    expect(all).toContain('t-1');
    expect(all).toContain('r-1');
    expect(all).toContain('cert.install');
  });

  it('keeps ordinary fields and messages intact', () => {
    const { log, lines } = capture();
    log.info({ deviceId: 'd-1', ip: '127.20.0.5', outcome: 'success' }, 'command done');
    log.flush();
    expect(JSON.parse(lines[0]!)).toMatchObject({ deviceId: 'd-1', ip: '127.20.0.5', outcome: 'success', msg: 'command done', level: 'info' });
  });
});
