import { describe, expect, it } from 'vitest';
import { formatAge, formatBytes, formatStatus } from '../../src/cli/status-format.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

const doc = {
  version: '1.4.0',
  startedAt: '2026-11-22T11:00:00Z',
  uptimeSeconds: 3600,
  draining: false,
  readiness: {
    ready: false,
    checks: [
      { name: 'db-writable', ok: true },
      { name: 'registered', ok: false, detail: 'tenant ID or PIN rejected by the DMS' },
    ],
  },
  cert: { subject: 'relay.example.com', sans: ['relay.example.com'], notAfter: '2026-12-02T12:00:00Z', valid: true },
  cache: { bytes: 0, objects: 0, hits: 0, misses: 0 },
  images: { synced: 3, syncing: 1, failed: 0 },
  devices: { known: 1200, online: 1187 },
  tasks: { scheduled: 2, running: 0, rollouts: { active: 1, devicesUpgrading: 20, devicesWaitingIdle: 3 } },
  managementAgent: {
    relayId: 'r-1',
    tenantId: 't-1',
    registered: false,
    tokenExpiresAt: null,
    lastRegistrationError: { code: 'INVALID_CREDENTIALS', message: 'tenant ID or PIN rejected by the DMS', at: '2026-11-22T11:58:00Z' },
    heartbeat: { intervalSeconds: 120, sent: 5, lastOkAt: '2026-11-22T11:50:00Z' },
    control: {
      connected: false,
      since: null,
      downSince: '2026-11-22T11:52:00Z',
      reconnects: 7,
      lastClose: { code: 1006, reason: '', at: '2026-11-22T11:52:00Z' },
      lastError: null,
    },
    outboxDepth: 42,
  },
  firmwareCache: { bytes: 3 * 1024 ** 3, objects: 3, hits: 10, misses: 2, fills: 1, reservedBytes: 0, quotaBytes: 40 * 1024 ** 3, lastError: null },
  ipGuard: { whitelisted: 900, blocked: 2 },
  listeners: [
    { name: 'phone HTTPS', url: 'https://0.0.0.0:443', purpose: 'phones: provisioning, firmware, notifications' },
    { name: 'admin', url: 'http://127.0.0.1:9090', purpose: 'health, readiness, metrics, status' },
  ],
  futurePart: { shape: 'unknown to this build' },
};

describe('cloud-relay status table', () => {
  it('renders every known section readably', () => {
    const text = formatStatus(doc, NOW);
    expect(text).toMatch(/^cloud-relay 1\.4\.0 {3}up 60 min {3}NOT READY$/m);
    expect(text).toMatch(/^ {2}registered +FAIL {2}tenant ID or PIN rejected by the DMS$/m);
    expect(text).toMatch(/^ {2}registered +NO: tenant ID or PIN rejected by the DMS$/m);
    expect(text).toMatch(/^ {2}heartbeat +every 120 s, 5 sent, last accepted 10 min ago$/m);
    expect(text).toMatch(/^ {2}control channel +DISCONNECTED \(last close: \{"code":1006,"reason":""\}\), 7 reconnects$/m);
    expect(text).toMatch(/^ {2}outbox +42 frames waiting for the DMS$/m);
    expect(text).toMatch(/^certificate +relay\.example\.com, expires in 10 days \(2026-12-02T12:00:00Z\), valid$/m);
    expect(text).toMatch(/^firmware cache +3 objects, 3\.0 GiB of 40\.0 GiB; 10 hits, 2 misses, 1 fills running$/m);
    expect(text).toMatch(/^devices +1200 known, 1187 online$/m);
    expect(text).toMatch(/^ip guard +900 whitelisted, 2 blocked$/m);
    expect(text).toMatch(/^tasks +2 scheduled, 0 running; rollouts 1 active \(20 phones upgrading, 3 waiting for idle\)$/m);
    expect(text).toMatch(
      /^listening on\n {2}phone HTTPS {8}https:\/\/0\.0\.0\.0:443 {4}phones: provisioning, firmware, notifications\n {2}admin {14}http:\/\/127\.0\.0\.1:9090 {2}health/m,
    );
    // A section this build does not know is shown raw, not dropped.
    expect(text).toContain('futurePart           {"shape":"unknown to this build"}');
    // The plain `cache` section is covered by the firmware cache line.
    expect(text).not.toMatch(/^cache /m);
    for (const l of text.split('\n')) expect(l).toBe(l.trimEnd());
  });

  it('prints a section whose shape changed raw instead of failing', () => {
    const text = formatStatus({ ...doc, devices: { total: 'many' }, readiness: 'odd' }, NOW);
    expect(text).toContain('readiness unknown');
    expect(text).toContain('devices              {"total":"many"}');
  });

  it('names the route to the DMS when a proxy is involved, and a control-channel diagnosis while down', () => {
    const agent = doc.managementAgent as Record<string, unknown>;
    const via = (route: unknown, lastError: unknown = null) =>
      formatStatus({ ...doc, managementAgent: { ...agent, control: { ...(agent.control as object), lastError }, route } }, NOW);
    const proxied = via(
      { via: 'proxy', proxy: 'http://relay:redacted@proxy.corp:3128', why: 'through proxy http://relay:redacted@proxy.corp:3128 (from HTTPS_PROXY)' },
      { code: 'PROXY_AUTH_FAILED', message: 'the outbound proxy answered CONNECT with HTTP 407', at: '2026-11-22T11:58:00Z' },
    );
    expect(proxied).toMatch(/^ {2}route +through proxy http:\/\/relay:redacted@proxy\.corp:3128 \(from HTTPS_PROXY\)$/m);
    expect(proxied).toMatch(/^ {2}last error +the outbound proxy answered CONNECT with HTTP 407 \(PROXY_AUTH_FAILED\)$/m);
    expect(via({ via: 'direct', proxy: null, why: 'direct: NO_PROXY entry "10.0.0.0/8" matches 10.1.2.3' })).toMatch(/^ {2}route +direct: NO_PROXY entry/m);
    expect(via({ via: 'direct', proxy: null, why: 'direct: no proxy configured for https (outboundProxy.url, https_proxy and HTTPS_PROXY unset)' })).not.toMatch(/route/);
  });

  it('formats sizes and ages', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatAge(90_000)).toBe('90 s');
    expect(formatAge(3 * 86_400_000)).toBe('3 days');
  });
});
