import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Reproduces the Dockerfile without a Docker engine: the runtime stage's files (dist,
 * package.json, lockfile) in a fresh folder, production dependencies only, the daemon run
 * as an unprivileged user against the DMS simulator, and the image's HEALTHCHECK command.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NOBODY = 65534;
const ADDON = 'node_modules/better-sqlite3/build/Release/better_sqlite3.node';
const isRoot = process.getuid?.() === 0;

let stage: string | undefined;
let dms: DmsSimulator | undefined;
let relay: ChildProcess | undefined;

afterAll(async () => {
  if (relay && relay.exitCode === null) relay.kill('SIGKILL');
  await dms?.close();
  if (stage) rmSync(stage, { recursive: true, force: true });
});

function healthcheckCommand(): string[] {
  const m = /^HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  if (!m) throw new Error('Dockerfile has no HEALTHCHECK CMD in exec form');
  return JSON.parse(m[1]!) as string[];
}

describe('container image steps, without Docker', () => {
  it('builds the image from the relay alone: no simulator source or build is copied', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY\s+(?:--\S+\s+)*(.+)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/).slice(0, -1));
    expect(copied).toContain('src');
    expect(copied.filter((f) => /(^|\/)(sim|dist-sim)(\/|$)/.test(f))).toEqual([]);
    // The build context: .dockerignore keeps the simulators out even of a `COPY . .`.
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignored).toEqual(expect.arrayContaining(['sim', 'dist-sim']));
    // What the runtime stage copies from the build stage: the relay's dist/, which holds no simulator.
    expect(existsSync(join(ROOT, 'dist/cli.js')), 'dist/ is built by `npm run build` (pretest)').toBe(true);
    expect(existsSync(join(ROOT, 'dist/sim'))).toBe(false);
  });

  it('installs production dependencies only and serves /readyz = 200 as a non-root user', async (ctx) => {
    if (!isRoot) return ctx.skip('needs root to drop to an unprivileged user with setpriv (CI runs as root)');
    stage = mkdtempSync(join(tmpdir(), 'relay-image-'));
    chmodSync(stage, 0o755);
    const app = join(stage, 'opt/cloud-relay');
    mkdirSync(app, { recursive: true });
    // COPY --from=build package.json package-lock.json dist
    for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, f), join(app, f));
    expect(existsSync(join(ROOT, 'dist/cli.js')), 'dist/ is built by `npm run build` (pretest)').toBe(true);
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });

    // The production install. Scripts are skipped because compiling better-sqlite3 takes
    // ~100 s on this machine; the image's build stage compiles it once and the runtime stage
    // copies node_modules, so the addon comes from the workspace's own build of it.
    const npm = spawnSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8', timeout: 120_000 });
    expect(npm.status, npm.stderr).toBe(0);
    mkdirSync(dirname(join(app, ADDON)), { recursive: true });
    copyFileSync(join(ROOT, ADDON), join(app, ADDON));
    for (const dev of ['typescript', 'vitest', 'eslint', 'nock', '@types/node']) {
      expect(existsSync(join(app, 'node_modules', dev)), `${dev} is a dev dependency`).toBe(false);
    }
    for (const prod of ['better-sqlite3', 'pino', 'undici', 'ws', 'zod', 'prom-client']) {
      expect(existsSync(join(app, 'node_modules', prod)), prod).toBe(true);
    }

    // VOLUMEs owned by the unprivileged user; the DMS CA readable by it.
    const dataDir = join(stage, 'var/lib/cloud-relay');
    const cacheDir = join(stage, 'var/cache/cloud-relay');
    for (const d of [dataDir, join(stage, 'var/lib/cloud-relay-keys'), cacheDir]) {
      mkdirSync(dirname(d), { recursive: true, mode: 0o755 });
      mkdirSync(d, { mode: 0o700 });
      chownSync(d, NOBODY, NOBODY);
    }
    dms = await startDmsSimulator({ heartbeatIntervalSeconds: 5 });
    const etc = join(stage, 'etc');
    mkdirSync(etc);
    writeFileSync(join(etc, 'dms-ca.pem'), dms.caPem, { mode: 0o644 });

    relay = spawn('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, join(app, 'dist/cli.js'), 'start'], {
      cwd: app,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        CLOUD_RELAY_DMS_URL: dms.url,
        CLOUD_RELAY_DMS_CA_FILE: join(etc, 'dms-ca.pem'),
        CLOUD_RELAY_TENANT_ID: 't-4711',
        CLOUD_RELAY_PIN: '493027',
        CLOUD_RELAY_FQDN: 'relay.test.example',
        CLOUD_RELAY_DATA_DIR: dataDir,
        CLOUD_RELAY_CACHE_DIR: cacheDir,
        CLOUD_RELAY_HTTPS_LISTEN: '127.0.0.1:0',
        CLOUD_RELAY_ADMIN_LISTEN: '127.0.0.1:0',
        CLOUD_RELAY_LOG_LEVEL: 'info',
      },
    });
    let out = '';
    relay.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    relay.stderr?.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => relay!.once('exit', (code) => resolve(code)));

    const started = await waitFor(
      () => {
        if (relay!.exitCode !== null) return { exitCode: relay!.exitCode };
        const line = out.split('\n').find((l) => l.includes('"cloud-relay started"'));
        return line ? { adminPort: (JSON.parse(line) as { admin: { port: number } }).admin.port } : undefined;
      },
      { timeoutMs: 30_000, message: 'relay start-up log line' },
    );
    if (!('adminPort' in started)) throw new Error(`relay exited ${started.exitCode} during start-up:\n${out}`);
    const adminPort = started.adminPort;
    const base = `http://127.0.0.1:${adminPort}`;

    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${relay.pid}/status`, 'utf8'))?.[1];
    expect(Number(uid)).toBe(NOBODY);

    await waitFor(
      async () => {
        const r = await request(`${base}/readyz`);
        const body = await r.body.text();
        if (r.statusCode !== 200) throw new Error(`readyz ${r.statusCode}: ${body}`);
        return true;
      },
      { timeoutMs: 30_000, message: 'readyz = 200' },
    );

    // The image's HEALTHCHECK, exactly as written in the Dockerfile.
    const [cmd, ...args] = healthcheckCommand();
    const hc = spawnSync(cmd === 'node' ? process.execPath : cmd!, args, { env: { CLOUD_RELAY_ADMIN_LISTEN: `0.0.0.0:${adminPort}` }, timeout: 10_000 });
    expect(hc.status).toBe(0);

    relay.kill('SIGTERM');
    expect(await exited).toBe(0);
    const hcAfter = spawnSync(cmd === 'node' ? process.execPath : cmd!, args, { env: { CLOUD_RELAY_ADMIN_LISTEN: `0.0.0.0:${adminPort}` }, timeout: 10_000 });
    expect(hcAfter.status).toBe(1);
  }, 180_000);
});
