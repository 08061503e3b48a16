import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startHarness, type Harness } from '../helpers/harness.js';
import { HSTS_VALUE } from '../../src/http/security-headers.js';

/**
 * The phone-facing port scanned by testssl.sh (Debian package testssl.sh; .ci/run installs
 * it): protocols, cipher categories, known vulnerabilities and HTTP security headers. No
 * HIGH or CRITICAL finding is allowed except those a private test certificate causes
 * (chain of trust, revocation, lifetime), and HSTS must be offered. Certificate checks (-S)
 * are left out on purpose: the test certificate is private, and `cert check` covers them.
 */
const TESTSSL = ['testssl', 'testssl.sh'].find((bin) => spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
const CERT_CAUSED = /chain_of_trust|cert_|OCSP|CRL|revocation|lifetime|expir|trust/i;

const BOUND_MS = 240_000;

/** testssl's JSON file, also when it was stopped half-way (the closing bracket then missing). */
function readFindings(file: string): Finding[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return [];
  }
  try {
    return JSON.parse(text) as Finding[];
  } catch {
    const end = text.lastIndexOf('}');
    return end < 0 ? [] : (JSON.parse(`${text.slice(0, end + 1)}]`) as Finding[]);
  }
}

interface Finding {
  id: string;
  severity: string;
  finding: string;
}

describe.skipIf(!TESTSSL)(`testssl.sh on the phone port${TESTSSL ? '' : ' (skipped: testssl.sh is not installed; apt-get install testssl.sh)'}`, () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness({ relayConfig: { ipGuard: { maxFailures: 100_000 } } });
    await h.connected();
  });
  afterAll(async () => {
    await h?.close();
  });

  it(
    'no HIGH or CRITICAL finding but what a private certificate causes; HSTS and nosniff sent',
    async (ctx) => {
      const port = h.daemon.addresses.https!.port;
      const out = join(h.dir, 'testssl.json');
      // Bounded: only the checks that matter, short connect/OpenSSL timeouts, and a hard kill.
      // Vulnerabilities one by one rather than --vulnerable: ROBOT (no RSA key exchange is
      // offered, which --std shows), DROWN (no SSLv2, which --protocols shows) and Ticketbleed
      // (an F5 bug) cost minutes and cannot apply to Node's TLS 1.2+/AEAD-only server.
      const vulns = [
        '--heartbleed',
        '--ccs-injection',
        '--renegotiation',
        '--crime',
        '--breach',
        '--poodle',
        '--tls-fallback',
        '--sweet32',
        '--freak',
        '--logjam',
        '--beast',
        '--lucky13',
        '--rc4',
      ];
      const args = [
        '--quiet',
        '--color',
        '0',
        '--warnings',
        'off',
        '--ip',
        'one',
        '--nodns',
        'min',
        '--assume-http',
        '--connect-timeout',
        '5',
        '--openssl-timeout',
        '5',
        '--protocols',
        '--std',
        ...vulns,
        '--headers',
        '--jsonfile',
        out,
        `127.0.0.1:${port}`,
      ];
      const code = await new Promise<number | null>((resolve) => {
        const p = spawn(TESTSSL!, args, { stdio: 'ignore' });
        const timer = setTimeout(() => p.kill('SIGKILL'), BOUND_MS);
        p.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      const findings = readFindings(out);
      // On a crowded machine testssl.sh (a shell script forking per step) may not finish in its
      // bound: what it did check is still judged below; if it never got to the protocols, skip.
      const reached = (id: string) => findings.some((f) => f.id === id);
      if (!reached('TLS1_3')) return ctx.skip(`testssl.sh did not get through the protocol checks within ${BOUND_MS / 1000} s (machine too busy)`);
      if (code === null) console.log(`testssl.sh stopped after ${BOUND_MS / 1000} s; judged on the ${findings.length} findings it made`);
      // Recorded in the test output so CI logs carry the scan's verdict.
      const notable = findings.filter((f) => !['OK', 'INFO', 'DEBUG'].includes(f.severity));
      console.log(`testssl.sh (exit ${code}): ${findings.length} findings; not OK/INFO:\n${notable.map((f) => `  ${f.severity} ${f.id}: ${f.finding}`).join('\n') || '  none'}`);
      const serious = findings.filter((f) => (f.severity === 'HIGH' || f.severity === 'CRITICAL') && !CERT_CAUSED.test(f.id));
      expect(serious).toEqual([]);
      const hsts = findings.find((f) => f.id === 'HSTS');
      if (hsts) expect(hsts.severity, JSON.stringify(hsts)).toMatch(/OK|INFO/);
      else {
        // testssl.sh judges headers on the answer to `GET /`, which here is the provisioning
        // server's 404 passed through; where it made no HSTS finding, check the header directly.
        const agent = new Agent({ connect: { rejectUnauthorized: false } });
        try {
          const res = await request(`https://127.0.0.1:${port}/`, { dispatcher: agent });
          await res.body.dump();
          expect(res.headers['strict-transport-security']).toBe(HSTS_VALUE);
        } finally {
          await agent.close();
        }
      }
      for (const p of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) expect(findings.find((f) => f.id === p)?.finding).toMatch(/not offered/);
    },
    BOUND_MS + 60_000,
  );
});
