import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { Daemon } from '../../src/daemon/index.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { relayMetrics } from '../../src/metrics/relay-metrics.js';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { waitFor } from '../helpers/wait.js';

/** Every metric the README documents, with its Prometheus type. */
const EXPECTED: Record<string, string> = {
  cloud_relay_registered: 'gauge',
  cloud_relay_ready: 'gauge',
  cloud_relay_readiness_check: 'gauge',
  cloud_relay_heartbeat_age_seconds: 'gauge',
  cloud_relay_heartbeats_total: 'counter',
  cloud_relay_control_connected: 'gauge',
  cloud_relay_control_reconnects_total: 'counter',
  cloud_relay_outbox_depth: 'gauge',
  cloud_relay_tasks: 'gauge',
  cloud_relay_rollouts_active: 'gauge',
  cloud_relay_rollout_devices_active: 'gauge',
  cloud_relay_device_commands_total: 'counter',
  cloud_relay_device_command_duration_seconds: 'histogram',
  cloud_relay_devices_known: 'gauge',
  cloud_relay_devices_online: 'gauge',
  cloud_relay_cache_size_bytes: 'gauge',
  cloud_relay_cache_objects: 'gauge',
  cloud_relay_cache_hits_total: 'counter',
  cloud_relay_cache_misses_total: 'counter',
  cloud_relay_served_bytes_total: 'counter',
  cloud_relay_upstream_fetches_total: 'counter',
  cloud_relay_images: 'gauge',
  cloud_relay_certificate_expiry_seconds: 'gauge',
  cloud_relay_certificate_valid: 'gauge',
  cloud_relay_ip_guard_bans_total: 'counter',
  cloud_relay_ip_guard_ips: 'gauge',
  cloud_relay_proxy_protocol_refused_total: 'counter',
  cloud_relay_phone_connections_cut_total: 'counter',
  cloud_relay_cache_fills_in_progress: 'gauge',
  cloud_relay_cache_quota_bytes: 'gauge',
  cloud_relay_device_commands_queued: 'gauge',
  cloud_relay_device_commands_in_flight: 'gauge',
  cloud_relay_device_polls_total: 'counter',
  cloud_relay_device_poll_failures_total: 'counter',
  cloud_relay_device_polls_deferred_total: 'counter',
  cloud_relay_device_notifications_total: 'counter',
  cloud_relay_build_info: 'gauge',
  cloud_relay_process_cpu_seconds_total: 'counter',
  cloud_relay_process_resident_memory_bytes: 'gauge',
  cloud_relay_nodejs_eventloop_lag_seconds: 'gauge',
};

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('/metrics on the admin port of a running relay', () => {
  let dir: string;
  let daemon: Daemon;
  let base: string;
  let dms: DmsSimulator;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'relay-metrics-'));
    dms = await startDmsSimulator({ heartbeatIntervalSeconds: 5 });
    writeFileSync(join(dir, 'dms-ca.pem'), dms.caPem);
    const config = loadConfig({
      env: {},
      overrides: {
        dmsUrl: dms.url,
        dmsCaFile: join(dir, 'dms-ca.pem'),
        tenantId: 't-4711',
        pin: '493027',
        fqdn: 'relay.test',
        dataDir: join(dir, 'data'),
        httpsListen: '127.0.0.1:0',
        openstage: { dlsListen: '127.0.0.1:0' },
        adminListen: '127.0.0.1:0',
        logLevel: 'silent',
      },
    });
    daemon = new Daemon({ config, logger: createLogger('silent') });
    await daemon.start();
    base = `http://127.0.0.1:${daemon.addresses.admin!.port}`;
  });

  afterAll(async () => {
    await daemon?.stop('test done');
    await dms?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves every documented metric with its type in the Prometheus text format', async () => {
    // Registered, heartbeat accepted and control channel up: the gauges must say so.
    await waitFor(
      async () => {
        const t = await (await request(`${base}/metrics`)).body.text();
        return sample(t, 'cloud_relay_control_connected') === 1 && (sample(t, 'cloud_relay_heartbeats_total') ?? 0) >= 1;
      },
      { timeoutMs: 20_000, message: 'registered, heartbeat sent, control channel up' },
    );
    relayMetrics.deviceCommand('reboot', 'success', 0.042);
    relayMetrics.bytesServed('cache', 1234);
    const res = await request(`${base}/metrics`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.body.text();
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
    for (const [name, type] of Object.entries(EXPECTED)) {
      expect.soft(types.get(name), name).toBe(type);
    }
    for (const name of types.keys()) expect(name).toMatch(/^cloud_relay_[a-z0-9_]+$/);
    // No family may appear twice across the concatenated registries.
    const typeLines = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]);
    expect(new Set(typeLines).size).toBe(typeLines.length);

    // Gauges show what the status document (and so the heartbeat) shows.
    const status = (await (await request(`${base}/status`)).body.json()) as {
      cert: { notAfter: string } | null;
      devices: { known: number; online: number } | null;
    };
    const expiry = sample(text, 'cloud_relay_certificate_expiry_seconds');
    if (status.cert) expect(Math.abs(expiry! - (Date.parse(status.cert.notAfter) - Date.now()) / 1000)).toBeLessThan(60);
    else expect(expiry).toBeUndefined();
    expect(sample(text, 'cloud_relay_registered')).toBe(1);
    expect(sample(text, 'cloud_relay_heartbeat_age_seconds')).toBeLessThan(60);
    expect(sample(text, 'cloud_relay_outbox_depth')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'cloud_relay_devices_known')).toBe(status.devices?.known ?? 0);
    expect(sample(text, 'cloud_relay_devices_online')).toBe(status.devices?.online ?? 0);
    expect(sample(text, 'cloud_relay_device_commands_total', '{kind="reboot",outcome="success"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'cloud_relay_served_bytes_total', '{source="cache"}')).toBeGreaterThanOrEqual(1234);
    expect(sample(text, 'cloud_relay_device_command_duration_seconds_bucket', '{le="0.05",kind="reboot"}')).toBeGreaterThanOrEqual(1);
  });

  it('is documented in the README, every relay metric by name', async () => {
    const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
    const text = await (await request(`${base}/metrics`)).body.text();
    const families = [...text.matchAll(/^# TYPE (cloud_relay_\S+)/gm)].map((m) => m[1]!);
    const own = families.filter((n) => !/^cloud_relay_(process|nodejs)_/.test(n));
    expect(own.length).toBeGreaterThan(20);
    for (const name of own) expect.soft(readme, name).toContain(`\`${name}\``);
  });

  it('agrees with /readyz about readiness', async () => {
    const ready = await request(`${base}/readyz`);
    await ready.body.dump();
    const text = await (await request(`${base}/metrics`)).body.text();
    expect(sample(text, 'cloud_relay_ready')).toBe(ready.statusCode === 200 ? 1 : 0);
    expect(sample(text, 'cloud_relay_readiness_check', '{check="db-writable"}')).toBe(1);
  });

  it('passes promtool check metrics', async (ctx) => {
    const probe = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
    if (probe.error) {
      ctx.skip(`promtool not installed (apt-get install prometheus): ${probe.error.message}`);
      return;
    }
    const text = await (await request(`${base}/metrics`)).body.text();
    const file = join(dir, 'metrics.txt');
    writeFileSync(file, text);
    const r = spawnSync('sh', ['-c', `promtool check metrics < "${file}"`], { encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`.trim()).toBe('');
    expect(r.status).toBe(0);
  });
});
