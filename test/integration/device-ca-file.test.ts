import { afterEach, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, type Harness } from '../helpers/harness.js';
import { tempDir } from '../helpers/relay-config.js';
import { ConfigError } from '../../src/errors.js';

/** devices.tlsPolicy=verify needs a CA file with a certificate in it: the daemon says so at start, naming the file. */
describe('devices.caFile', () => {
  const dir = tempDir('cr-phone-ca-');
  let h: Harness | undefined;

  afterEach(async () => {
    await h?.close();
    h = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('a file without a PEM certificate stops the start with a ConfigError naming it', async () => {
    const caFile = join(dir, 'phones-ca.pem');
    writeFileSync(caFile, 'this is not a certificate\n');
    h = await startHarness({ startRelay: false, relayConfig: { devices: { tlsPolicy: 'verify', caFile } } });
    const err: unknown = await h.startRelay().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(`${(err as Error).message} ${JSON.stringify(err)}`).toContain(`${caFile} holds no PEM certificate`);
  });
});
