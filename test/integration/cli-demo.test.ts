import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:tls';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { extract } from 'tar';
import { REPO_ROOT, runCli } from '../helpers/child.js';
import { tempDir } from '../helpers/relay-config.js';
import { replaceSample, statusSample } from '../../scripts/status-sample.js';

/**
 * The first-time admin's path: `npm run demo`, then the CLI from a second terminal as the
 * README words it. The demo runs on its own admin port (never the default 9090: other
 * worktrees run tests in parallel), so each command gets `--admin`, as the demo's hints say.
 */
const DEMO_PIN = '493027';
/** Each test runs a few CLI processes; on a loaded 2-core machine one takes seconds. */
const CLI_TEST_MS = 120_000;

describe('the CLI against a running demo', () => {
  let dir: string;
  let demo: ChildProcess;
  let out = '';
  let admin: string;
  let phoneUrl: string;
  let dataDir: string;

  beforeAll(async () => {
    dir = tempDir('cr-cli-demo-');
    demo = spawn(process.execPath, [join(REPO_ROOT, 'dist-sim', 'demo.js'), '--admin', '127.0.0.1:0', '--dir', join(dir, 'd')], { stdio: ['ignore', 'pipe', 'pipe'] });
    // Settled once the demo has run every part: the counts in the status document stop moving.
    await new Promise<void>((resolve, reject) => {
      const onData = (c: Buffer) => {
        out += c.toString();
        if (out.includes('demo running: heartbeats continue')) resolve();
      };
      demo.stdout!.on('data', onData);
      demo.stderr!.on('data', onData);
      demo.once('exit', () => reject(new Error(`the demo exited early:\n${out}`)));
    });
    admin = /relay admin on http:\/\/(127\.0\.0\.1:\d+)/.exec(out)![1]!;
    phoneUrl = /relay phone HTTPS on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    dataDir = /relay data directory (\S+)/.exec(out)![1]!;
  }, 180_000);

  afterAll(async () => {
    if (demo && demo.exitCode === null) {
      const gone = new Promise((resolve) => demo.once('exit', resolve));
      demo.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  }, CLI_TEST_MS);

  it(
    'status shows every listener, and the demo prints the phone port',
    async () => {
      expect(out).toContain(`relay phone HTTPS on ${phoneUrl}`);
      const text = await runCli(['status', '--admin', admin]);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toMatch(new RegExp(`^ {2}phone HTTPS +${phoneUrl.replace(/\./g, '\\.')} +phones: provisioning, firmware`, 'm'));
      expect(text.stdout).toMatch(new RegExp(`^ {2}admin +http://${admin.replace(/\./g, '\\.')} +health, readiness, metrics, status`, 'm'));
      const json = await runCli(['status', '--admin', admin, '--json']);
      const doc = JSON.parse(json.stdout) as { listeners: { name: string; url: string }[] };
      expect(doc.listeners).toEqual([
        expect.objectContaining({ name: 'phone HTTPS', url: phoneUrl }),
        expect.objectContaining({ name: 'OpenStage DLS', url: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/) }),
        expect.objectContaining({ name: 'admin', url: `http://${admin}` }),
      ]);
      // The printed port is the one phones reach: a TLS handshake there works.
      const url = new URL(phoneUrl);
      const servername = await new Promise<string>((resolve, reject) => {
        const s = connect({ host: url.hostname, port: Number(url.port), servername: 'relay.demo.example', rejectUnauthorized: false }, () => {
          const cn = s.getPeerCertificate().subject?.CN;
          s.end();
          resolve(typeof cn === 'string' ? cn : '');
        });
        s.once('error', reject);
      });
      expect(servername).toBe('relay.demo.example');
    },
    CLI_TEST_MS,
  );

  it(
    'ip list and devices list find the data directory from the admin port; a missing database exits 66',
    async () => {
      expect(out).toContain(`--data-dir ${dataDir}`);
      const ip = await runCli(['ip', 'list', '--admin', admin]);
      expect(ip.code, ip.stderr).toBe(0);
      expect(ip.stdout).toMatch(/^127\.20\.10\.250 +banned/m);
      const devices = await runCli(['devices', 'list', '--admin', admin]);
      expect(devices.code, devices.stderr).toBe(0);
      expect(devices.stdout).toMatch(/^dev-0004f20000c8 +0004f20000c8/m);
      const withDir = await runCli(['ip', 'list', '--data-dir', dataDir]);
      expect(withDir.stdout).toBe(ip.stdout);

      // No relay answers and the directory holds no database: EX_NOINPUT, naming the directory and how it was chosen.
      const empty = join(dir, 'empty');
      mkdirSync(empty);
      const missing = await runCli(['devices', 'list', '--data-dir', empty]);
      expect(missing.code).toBe(66);
      expect(missing.stderr).toContain(`no relay database in ${empty} (from --data-dir)`);
      if (existsSync('/var/lib/cloud-relay/relay.db')) return; // a real relay installed here: the default would find it
      const nobody = await runCli(['ip', 'list', '--admin', '127.0.0.1:9']);
      expect(nobody.code).toBe(66);
      expect(nobody.stderr).toMatch(/no relay database in \/var\/lib\/cloud-relay \(from the default; no relay answers at http:\/\/127\.0\.0\.1:9/);
    },
    CLI_TEST_MS,
  );

  it(
    "config shows the running relay's effective configuration, redacted, with where each value came from",
    async () => {
      const r = await runCli(['config', '--admin', admin]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Effective configuration of the relay answering at http://${admin}`);
      const configFile = /relay config file (\S+)/.exec(out)![1]!;
      const fromFile = `file ${configFile}`.replace(/[.]/g, '\\.');
      expect(r.stdout).toMatch(new RegExp(`^dmsUrl +https://127\\.0\\.0\\.1:\\d+ +${fromFile}$`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^fqdn +relay\\.demo\\.example +${fromFile}$`, 'm'));
      expect(r.stdout).toMatch(new RegExp(`^pin +\\[redacted\\] +${fromFile}$`, 'm'));
      expect(r.stdout).toMatch(/^shutdownGraceSeconds +30 +default$/m);
      expect(r.stdout).toMatch(/^cacheDir +\S+\/relay\/cache +default \(<dataDir>\/cache\)$/m);
      expect(r.stdout).toMatch(/^pfxFile +- +not set$/m);
      expect(r.stdout).not.toContain(DEMO_PIN);
      // Nor does the admin port itself give a secret away.
      const raw = await (await fetch(`http://${admin}/config`)).text();
      expect(raw).not.toContain(DEMO_PIN);
      expect(raw).toContain('"dataDir"');
    },
    CLI_TEST_MS,
  );

  it(
    "diag collects every section the README lists, the log from the relay's log file, and labels them truly",
    async () => {
      const bundle = join(dir, 'bundle.tar.gz');
      const r = await runCli(['diag', '--admin', admin, '--output', bundle]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/MISSING|unavailable|problems/);
      const x = join(dir, 'x');
      mkdirSync(x);
      await extract({ file: bundle, cwd: x });
      const root = join(x, readdirSync(x)[0]!);
      const names = readdirSync(root).sort();
      expect(names).toEqual(['INDEX.txt', 'certificate.txt', 'config.json', 'images.json', 'logs.txt', 'metrics.txt', 'readyz.json', 'status.json', 'store.json', 'versions.json']);
      const index = readFileSync(join(root, 'INDEX.txt'), 'utf8');
      for (const n of names.filter((n) => n !== 'INDEX.txt')) expect(index).toMatch(new RegExp(`^ok +${n.replace('.', '\\.')}`, 'm'));
      const logFile = join(dir, 'd', 'relay.log');
      expect(index).toContain(`logs.txt  (last 2000 lines of ${logFile})`);
      // The demo's whole log so far (it is shorter than 2000 lines), from its first line on.
      const logs = readFileSync(join(root, 'logs.txt'), 'utf8').trimEnd().split('\n');
      expect(logs[0]).toBe(readFileSync(logFile, 'utf8').split('\n')[0]);
      expect(logs.map((l) => (JSON.parse(l) as { msg: string }).msg)).toContain('cloud-relay started');
      expect(JSON.parse(readFileSync(join(root, 'store.json'), 'utf8'))).toMatchObject({ tables: { devices: expect.any(Number) as number } });
      expect(readFileSync(join(root, 'certificate.txt'), 'utf8')).toMatch(/installed PFX[\s\S]*relay\.demo\.example[\s\S]*result\s+VALID/);
      expect(JSON.parse(readFileSync(join(root, 'config.json'), 'utf8'))).toMatchObject({ dataDir });
      const all = names.map((n) => readFileSync(join(root, n), 'utf8')).join('\n');
      expect(all).not.toContain(DEMO_PIN);

      // --data-dir alone (no relay answering, no config): the store section still comes from it; the
      // certificate report needs the relay's name, which only a config or the relay knows.
      const offline = join(dir, 'offline.tar.gz');
      const o = await runCli(['diag', '--admin', '127.0.0.1:9', '--data-dir', dataDir, '--output', offline, '--log-lines', '10']);
      expect(o.code, o.stderr).toBe(0);
      expect(o.stdout).toMatch(/^ok +store\.json +\(store statistics of /m);
      expect(o.stdout).toMatch(/^unavailable +certificate\.unavailable\.txt +\(no fqdn known/m);
      expect(o.stdout).toMatch(/^unavailable +status\.unavailable\.txt +\(no relay answered/m);
      expect(o.stdout).toMatch(/^problems +config-problems\.txt/m);
      expect(statSync(offline).mode & 0o777).toBe(0o600);
    },
    CLI_TEST_MS,
  );

  it("the README's sample status output is this demo's", async () => {
    const json = await runCli(['status', '--admin', admin, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const sample = statusSample(JSON.parse(json.stdout) as Record<string, unknown>);
    const file = join(REPO_ROOT, 'README.md');
    const readme = readFileSync(file, 'utf8');
    const wanted = replaceSample(readme, sample);
    if (process.env.UPDATE_README === '1' && wanted !== readme) writeFileSync(file, wanted);
    else expect(readme, 'README sample status differs from a demo run: rerun this test with UPDATE_README=1').toBe(wanted);
  });
});
