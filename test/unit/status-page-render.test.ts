import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import type { LoadedCertStatus } from '../../src/core/status.js';
import { renderStatusPage, SECTIONS } from '../../src/admin/status-page/render.js';
import { escapeHtml, html } from '../../src/admin/status-page/html.js';
import { STYLE, STYLE_HASH } from '../../src/admin/status-page/style.js';
import type { PageDocument, SectionRenderer } from '../../src/admin/status-page/section.js';

const NOW = Date.parse('2026-12-07T15:00:00Z');
const ago = (s: number) => new Date(NOW - s * 1000).toISOString();
const ahead = (days: number) => new Date(NOW + days * 86_400_000).toISOString();

/** A relay with every part wired and healthy; tests change what they look at. */
/** Without `rollouts`: a page of a document without it leaves the card out. */
function fullDocument(): PageDocument {
  return {
    version: '0.1.0',
    startedAt: ago(7260),
    uptimeSeconds: 7260,
    draining: false,
    readiness: {
      ready: true,
      checks: [
        { name: 'db-writable', ok: true },
        { name: 'registered', ok: true },
      ],
    },
    listeners: [],
    cert: { subject: 'relay.example.com', sans: ['relay.example.com', '10.1.2.3'], notAfter: ahead(200), valid: true, selfSigned: false },
    cache: { bytes: 0, objects: 0, hits: 0, misses: 0 },
    images: { synced: 1, syncing: 1, failed: 0 },
    devices: { known: 3, online: 2 },
    tasks: { scheduled: 0, running: 1, rollouts: { active: 1, devicesUpgrading: 2, devicesWaitingIdle: 1 } },
    managementAgent: {
      relayId: 'r-123',
      tenantId: 't-4711',
      registered: true,
      tokenExpiresAt: ahead(1),
      lastRegistrationError: null,
      heartbeat: { intervalSeconds: 120, sent: 12, lastOkAt: ago(30) },
      control: { connected: true, since: ago(3600), downSince: null, reconnects: 0, lastClose: null, lastError: null },
      outboxDepth: 0,
    },
    firmwareCache: { bytes: 3 * 1024 ** 3, objects: 2, hits: 10, misses: 2, fills: 1, reservedBytes: 0, quotaBytes: 40 * 1024 ** 3, lastError: null },
    firmwareSync: {
      lastSyncAt: ago(60),
      lastError: null,
      windowOpen: true,
      nextWindowAt: null,
      images: [
        { imageId: 'img-1', path: '/fw/vvx.sip.ld', version: '6.4.3', size: 100, state: 'synced', bytes: 100, reason: null },
        { imageId: 'img-2', path: '/fw/vvx2.sip.ld', version: '6.4.5', size: 200, state: 'syncing', bytes: 50, reason: null },
      ],
    },
    phones: {
      known: 3,
      online: 2,
      groups: [
        { model: 'VVX 450', firmware: '6.4.3.1234', known: 2, online: 2 },
        { model: 'VVX 250', firmware: '6.4.3.1234', known: 1, online: 0 },
      ],
      otherGroups: { groups: 0, known: 0, online: 0 },
      recentlyOffline: [{ deviceId: 'dev-3', mac: '0004f2000003', ip: '127.20.0.3', model: 'VVX 250', offlineSince: ago(300) }],
    },
    recentTasks: [
      { taskId: 'task-1', name: 'reboot floor 2', kind: 'reboot', state: 'executing', createdAt: ago(120), total: 10, success: 5, failure: 2, notApplicable: 1, inProgress: 2 },
    ],
    ipGuard: { whitelisted: 4, blocked: 1, addresses: [{ ip: '127.9.9.9', state: 'banned', until: ahead(0.01), bans: 1, lastFailure: '401 /cfg', lastFailureAt: ago(10) }] },
    deviceWork: { queued: 0, inFlight: 1, polls: 10, pollFailures: 0, pollsDeferred: 0, notifications: 0, notificationsRefused: 0, captureSlots: 0 },
  };
}

/** The markup of one section card (`<section id="…">…</section>`). */
function card(page: string, id: string): string | undefined {
  const m = new RegExp(`<section id="${id}"[\\s\\S]*?</section>`).exec(page);
  return m?.[0];
}

describe('status page render', () => {
  it('escapes every value that comes from outside', () => {
    const doc = fullDocument();
    const evil = '<script>alert(1)</script>';
    const attr = '"><img src=x onerror=alert(2)>';
    doc.phones!.groups[0]!.model = evil;
    doc.phones!.recentlyOffline[0]!.deviceId = attr;
    doc.managementAgent!.control = {
      connected: false,
      since: null,
      downSince: ago(90),
      reconnects: 3,
      lastClose: null,
      lastError: { code: 'CONTROL_ERROR', message: `boom ${attr} & more`, at: ago(5) },
    };
    (doc.cert as LoadedCertStatus).subject = 'A & B <Corp>';
    doc.firmwareSync!.images[0]!.path = `/fw/${evil}`;
    doc.recentTasks![0]!.name = `'quoted' ${evil}`;
    doc.ipGuard!.addresses![0]!.lastFailure = `404 /${attr}`;
    doc.readiness!.checks.push({ name: 'x', ok: false, detail: evil });
    const page = renderStatusPage(doc, NOW);
    expect(page).not.toContain('<script');
    expect(page).not.toContain('<img');
    expect(page).not.toContain(attr);
    expect(page).toContain(escapeHtml(evil));
    expect(page).toContain('A &amp; B &lt;Corp&gt;');
    expect(page).toContain('boom &quot;&gt;&lt;img src=x onerror=alert(2)&gt; &amp; more');
    expect(page).toContain('&#39;quoted&#39;');
  });

  it('the template escapes by default and keeps its own markup', () => {
    const inner = html`<b>${'<i>'}</b>`;
    expect(html`<p>${inner}${['<', 1, null, undefined, false]}</p>`.text).toBe('<p><b>&lt;i&gt;</b>&lt;1</p>');
  });

  it('colours the certificate expiry: ok beyond 30 days, warning inside 30, critical inside 7 and after', () => {
    const at = (days: number) => {
      const doc = fullDocument();
      (doc.cert as LoadedCertStatus).notAfter = ahead(days);
      return card(renderStatusPage(doc, NOW), 'cert')!;
    };
    expect(at(200)).toMatch(/^<section id="cert" class="ok"/);
    expect(at(200)).toContain('<span class="t-ok">');
    expect(at(29)).toMatch(/^<section id="cert" class="warn"/);
    expect(at(29)).toMatch(/<span class="t-warn">2027-01-05 15:00:00 UTC \(in 29 d 0 h\)/);
    expect(at(29)).toContain('expiring');
    expect(at(3)).toMatch(/^<section id="cert" class="bad"/);
    expect(at(-2)).toMatch(/^<section id="cert" class="bad"/);
    expect(at(-2)).toContain('<span class="badge bad">expired</span>');
    expect(at(-2)).toContain('(expired 2 d 0 h ago)');
  });

  it('lists certificate problems and names a self-signed certificate', () => {
    const doc = fullDocument();
    doc.cert = { subject: 'relay.local', sans: [], notAfter: ahead(300), valid: true, selfSigned: true, problems: ['CERT_SELF_SIGNED: self-signed'] };
    const c = card(renderStatusPage(doc, NOW), 'cert')!;
    expect(c).toContain('class="warn"');
    expect(c).toContain('self-signed');
    expect(c).toContain('<li class="err">CERT_SELF_SIGNED: self-signed</li>');
  });

  it('shows the DMS link: relay, tenant, heartbeat age, control up since, outbox', () => {
    const c = card(renderStatusPage(fullDocument(), NOW), 'dms')!;
    expect(c).toMatch(/^<section id="dms" class="ok"/);
    expect(c).toContain('<code>r-123</code>');
    expect(c).toContain('<code>t-4711</code>');
    expect(c).toContain('last answered 30 s ago');
    expect(c).toContain('since 2026-12-07 14:00:00 UTC');
    expect(c).toContain('frames waiting for the DMS');
  });

  it('shows a control channel that is down: since when and the last error sentence; a stale heartbeat warns', () => {
    const doc = fullDocument();
    doc.managementAgent!.control = {
      connected: false,
      since: null,
      downSince: ago(600),
      reconnects: 7,
      lastClose: null,
      lastError: { code: 'CONTROL_UPGRADE_REFUSED', message: 'the DMS refused the control-channel upgrade with HTTP 503', at: ago(20) },
    };
    doc.managementAgent!.heartbeat.lastOkAt = ago(400);
    doc.managementAgent!.outboxDepth = 250;
    const c = card(renderStatusPage(doc, NOW), 'dms')!;
    expect(c).toMatch(/^<section id="dms" class="bad"/);
    expect(c).toContain('control channel down');
    expect(c).toContain('down</span> since 2026-12-07 14:50:00 UTC');
    expect(c).toContain('the DMS refused the control-channel upgrade with HTTP 503');
    expect(c).toContain('<span class="t-warn">last answered 6 min 40 s ago</span>');
    expect(c).toContain('<span class="t-warn">250</span>');
  });

  it('says why the relay is not registered', () => {
    const doc = fullDocument();
    doc.managementAgent = {
      ...doc.managementAgent!,
      relayId: null,
      registered: false,
      lastRegistrationError: { code: 'REGISTRATION_REJECTED', message: 'tenant ID or PIN rejected by the DMS', at: ago(3) },
    };
    doc.managementAgent.heartbeat.lastOkAt = null;
    const c = card(renderStatusPage(doc, NOW), 'dms')!;
    expect(c).toContain('not registered');
    expect(c).toContain('tenant ID or PIN rejected by the DMS');
  });

  it('draws progress bars: a syncing image, cache use, task outcomes', () => {
    const page = renderStatusPage(fullDocument(), NOW);
    const fw = card(page, 'firmware')!;
    // image 2: 50 of 200 bytes → a quarter of the bar
    expect(fw).toContain('aria-label="downloaded: 50 of 200"');
    expect(fw).toMatch(/<rect class="s-warn" x="0" y="0" width="25" height="10"\/>/);
    expect(fw).toContain('25 % of 200 B');
    expect(fw).toContain('3.0 GiB of 40 GiB (7.5 %)');
    expect(fw).toContain('1 syncing');
    const tasks = card(page, 'tasks')!;
    // 5 success, 2 failure, 1 n/a, 2 to do out of 10: stacked segments
    expect(tasks).toContain('<rect class="s-ok" x="0" y="0" width="50" height="10"/>');
    expect(tasks).toContain('<rect class="s-bad" x="50" y="0" width="20" height="10"/>');
    expect(tasks).toContain('<rect class="s-warn" x="70" y="0" width="10" height="10"/>');
    expect(tasks).toContain('<rect class="s-idle" x="80" y="0" width="20" height="10"/>');
    expect(tasks).toContain('5 success');
    expect(tasks).toContain('2 failure');
  });

  it('shows phones by model and firmware, the offline ones, and what the shown groups leave out', () => {
    const doc = fullDocument();
    doc.phones!.otherGroups = { groups: 3, known: 40, online: 39 };
    const c = card(renderStatusPage(doc, NOW), 'phones')!;
    expect(c).toContain('2 / 3 online');
    expect(c).toContain(
      '<td data-label="Model">VVX 450</td><td data-label="Firmware">6.4.3.1234</td><td class="n" data-label="Known">2</td><td class="n" data-label="Online">2</td>',
    );
    expect(c).toContain('<code>dev-3</code>');
    expect(c).toContain('5 min 0 s ago');
    expect(c).toContain(
      '3 more model/firmware combinations</span></td><td data-label="Firmware"></td><td class="n" data-label="Known">40</td><td class="n" data-label="Online">39</td>',
    );
  });

  it('shows blocked addresses and how many more there are', () => {
    const doc = fullDocument();
    doc.ipGuard!.blocked = 25;
    const c = card(renderStatusPage(doc, NOW), 'ipguard')!;
    expect(c).toContain('<td data-label="Address"><code class="nw">127.9.9.9</code></td>');
    expect(c).toContain('and 24 more');
    expect(c).toContain('25 blocked');
  });

  it('has an empty state for every list', () => {
    const doc = fullDocument();
    doc.phones = { known: 0, online: 0, groups: [], otherGroups: { groups: 0, known: 0, online: 0 }, recentlyOffline: [] };
    doc.firmwareSync!.images = [];
    doc.recentTasks = [];
    doc.tasks = { scheduled: 0, running: 0, rollouts: { active: 0, devicesUpgrading: 0, devicesWaitingIdle: 0 } };
    doc.ipGuard = { whitelisted: 0, blocked: 0, addresses: [] };
    doc.cert = { valid: false, reason: 'the certificate manager has not loaded one' };
    const page = renderStatusPage(doc, NOW);
    expect(card(page, 'phones')).toContain('No phones known yet');
    expect(card(page, 'firmware')).toContain('The DMS has not asked for any firmware image.');
    expect(card(page, 'tasks')).toContain('No tasks from the DMS on this relay.');
    expect(card(page, 'ipguard')).toContain('No address is banned or blacklisted.');
    expect(card(page, 'cert')).toContain('No certificate loaded yet.');
  });

  it('leaves out the sections of parts the document does not have, and takes new ones as one function', () => {
    const bare: PageDocument = { version: '0.1.0', startedAt: ago(5), uptimeSeconds: 5, draining: true };
    const page = renderStatusPage(bare, NOW);
    for (const id of ['dms', 'firmware', 'phones', 'tasks', 'ipguard', 'readiness', 'rollouts']) expect(card(page, id)).toBeUndefined();
    expect(page).toContain('<span class="badge warn">draining</span>');
    const doctor: SectionRenderer = () => ({ id: 'doctor', title: 'Diagnosis', tone: 'bad', body: html`<p>${'proxy <refuses> CONNECT'}</p>` });
    const withExtra = renderStatusPage(bare, NOW, [...SECTIONS, doctor]);
    expect(card(withExtra, 'doctor')).toContain('<p>proxy &lt;refuses&gt; CONNECT</p>');
  });

  it('shows rollouts only when the document carries them, with a bar per phase', () => {
    expect(card(renderStatusPage(fullDocument(), NOW), 'rollouts')).toBeUndefined();
    const doc = fullDocument();
    doc.rollouts = [
      {
        rolloutId: 'ro-1',
        name: 'VVX to 6.4.5',
        imageId: 'img-2',
        state: 'running',
        reason: null,
        submittedAt: ago(600),
        totals: { total: 20, upgraded: 8, alreadyCurrent: 2, inProgress: 2, waitingIdle: 1, failed: 2, notApplicable: 1, notStarted: 0 },
      },
    ];
    const c = card(renderStatusPage(doc, NOW), 'rollouts')!;
    expect(c).toMatch(/^<section id="rollouts" class="warn wide"/);
    expect(c).toContain('1 active');
    // 10 ok, 2 failed, 1 skipped, 7 to do (2 running + 1 waiting + 4 pending) of 20
    expect(c).toContain('<rect class="s-ok" x="0" y="0" width="50" height="10"/>');
    expect(c).toContain('<rect class="s-bad" x="50" y="0" width="10" height="10"/>');
    expect(c).toContain('<rect class="s-warn" x="60" y="0" width="5" height="10"/>');
    expect(c).toContain('<rect class="s-idle" x="65" y="0" width="35" height="10"/>');
    doc.rollouts = [];
    expect(card(renderStatusPage(doc, NOW), 'rollouts')).toContain('No firmware rollouts on this relay.');
  });

  it('refreshes itself and has exactly the stylesheet the CSP hash allows', () => {
    const page = renderStatusPage(fullDocument(), NOW);
    expect(page).toContain('<meta http-equiv="refresh" content="5">');
    const styles = [...page.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]);
    expect(styles).toEqual([STYLE]);
    expect(STYLE_HASH).toBe(`'sha256-${createHash('sha256').update(styles[0]!).digest('base64')}'`);
    // No style attributes (the CSP hash does not cover them), no scripts, nothing fetched.
    expect(page).not.toMatch(/\sstyle=/);
    expect(page).not.toMatch(/<script|\ssrc=|https?:\/\//);
  });
});
