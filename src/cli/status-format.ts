import { readinessSchema, statusSectionSchemas as section } from '../core/status.js';

/**
 * `cloud-relay status` as a person reads it. The document comes over HTTP from a relay that
 * may be older or newer than this CLI, so each section is parsed on its own with the schemas
 * of core/status.ts: a section this build does not know, or one whose shape changed, is
 * printed raw instead of failing the whole command.
 */
const LABEL = 20;

function line(label: string, value: string): string {
  return `${label.padEnd(LABEL)} ${value}`.trimEnd();
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && 'message' in v && typeof v.message === 'string') return v.message;
  return JSON.stringify(v);
}

/** Renders the status document; `now` is injectable so tests need no clock. */
export function formatStatus(doc: Record<string, unknown>, now = Date.now()): string {
  const out: string[] = [];
  // The detail lists (per image, per model, per task, per rollout) are the status page's; the
  // counts above them are printed below.
  const shown = new Set(['version', 'startedAt', 'uptimeSeconds', 'draining', 'readiness', 'firmwareSync', 'phones', 'recentTasks', 'rollouts']);
  const r = readinessSchema.safeParse(doc.readiness);
  const state = doc.draining === true ? 'DRAINING' : r.success ? (r.data.ready ? 'READY' : 'NOT READY') : 'readiness unknown';
  out.push(`cloud-relay ${describe(doc.version)}   up ${typeof doc.uptimeSeconds === 'number' ? formatAge(doc.uptimeSeconds * 1000) : '?'}   ${state}`);
  if (r.success) {
    out.push('', 'readiness');
    for (const c of r.data.checks) out.push(line(`  ${c.name}`, `${c.ok ? 'ok  ' : 'FAIL'}${c.detail ? `  ${c.detail}` : ''}`));
  }
  const ls = section.listeners.safeParse(doc.listeners);
  if (ls.success) {
    shown.add('listeners');
    out.push('', 'listening on');
    const width = Math.max(0, ...ls.data.map((l) => l.url.length));
    for (const l of ls.data) out.push(line(`  ${l.name}`, `${l.url.padEnd(width)}  ${l.purpose}`));
  }

  const a = section.managementAgent.safeParse(doc.managementAgent);
  if (a.success) {
    shown.add('managementAgent');
    const g = a.data;
    out.push('', 'DMS');
    out.push(line('  relay id', g.relayId ?? '(not assigned yet)'));
    out.push(
      line(
        '  registered',
        g.registered ? `yes${g.tokenExpiresAt ? `, token valid until ${g.tokenExpiresAt}` : ''}` : `NO${g.lastRegistrationError ? `: ${describe(g.lastRegistrationError)}` : ''}`,
      ),
    );
    const hb = g.heartbeat;
    out.push(
      line(
        '  heartbeat',
        `${hb.intervalSeconds ? `every ${hb.intervalSeconds} s, ` : ''}${hb.sent} sent, last accepted ${hb.lastOkAt ? `${formatAge(now - Date.parse(hb.lastOkAt))} ago` : 'never'}`,
      ),
    );
    const c = g.control;
    out.push(
      line(
        '  control channel',
        `${c.connected ? `connected${c.since ? ` for ${formatAge(now - Date.parse(c.since))}` : ''}` : `DISCONNECTED${c.lastClose ? ` (last close: ${describe({ code: c.lastClose.code, reason: c.lastClose.reason })})` : ''}`}, ${c.reconnects} reconnects`,
      ),
    );
    if (!c.connected && c.lastError) out.push(line('  last error', `${c.lastError.message} (${c.lastError.code})`));
    // Only a proxy (or a NO_PROXY exception to one) is worth a line: direct with nothing configured is the default.
    if (g.route && (g.route.via === 'proxy' || !g.route.why.startsWith('direct: no proxy configured'))) out.push(line('  route', g.route.why));
    out.push(line('  outbox', `${g.outboxDepth} frame${g.outboxDepth === 1 ? '' : 's'} waiting for the DMS`));
  }

  out.push('');
  const ct = section.cert.safeParse(doc.cert);
  if (ct.success) {
    shown.add('cert');
    const c = ct.data;
    if ('reason' in c) {
      out.push(line('certificate', `NONE: ${c.reason}`));
    } else {
      const left = Date.parse(c.notAfter) - now;
      out.push(
        line(
          'certificate',
          `${c.subject}${c.selfSigned ? ' (self-signed)' : ''}, ${left > 0 ? `expires in ${formatAge(left)}` : 'EXPIRED'} (${c.notAfter}), ${c.valid ? 'valid' : 'NOT VALID'}`,
        ),
      );
      for (const p of c.problems ?? []) out.push(line('', `  ${p}`));
    }
  }
  const fc = section.firmwareCache.safeParse(doc.firmwareCache);
  if (fc.success) {
    shown.add('firmwareCache').add('cache');
    const c = fc.data;
    out.push(
      line(
        'firmware cache',
        `${c.objects} objects, ${formatBytes(c.bytes)} of ${formatBytes(c.quotaBytes)}; ${c.hits} hits, ${c.misses} misses, ${c.fills} fills running${c.lastError ? `; last error: ${describe(c.lastError)}` : ''}`,
      ),
    );
  }
  const im = section.images.safeParse(doc.images);
  if (im.success) {
    shown.add('images');
    out.push(line('images', `${im.data.synced} synced, ${im.data.syncing} syncing, ${im.data.failed} failed`));
  }
  const dv = section.devices.safeParse(doc.devices);
  if (dv.success) {
    shown.add('devices');
    out.push(line('devices', `${dv.data.known} known, ${dv.data.online} online`));
  }
  const tk = section.tasks.safeParse(doc.tasks);
  const dw = section.deviceWork.safeParse(doc.deviceWork);
  if (tk.success || dw.success) {
    const parts: string[] = [];
    if (tk.success) {
      shown.add('tasks');
      parts.push(`${tk.data.scheduled} scheduled, ${tk.data.running} running`);
      const ro = tk.data.rollouts;
      parts.push(`rollouts ${ro.active} active (${ro.devicesUpgrading} phones upgrading, ${ro.devicesWaitingIdle} waiting for idle)`);
    }
    if (dw.success) {
      shown.add('deviceWork');
      parts.push(
        `commands ${dw.data.inFlight} in flight, ${dw.data.queued} queued; ${dw.data.polls} polls (${dw.data.pollFailures} unanswered${dw.data.pollsDeferred > 0 ? `, ${dw.data.pollsDeferred} put off` : ''})`,
      );
    }
    out.push(line('tasks', parts.join('; ')));
  }
  const ig = section.ipGuard.safeParse(doc.ipGuard);
  if (ig.success) {
    shown.add('ipGuard');
    out.push(line('ip guard', `${ig.data.whitelisted} whitelisted, ${ig.data.blocked} blocked`));
  }
  for (const [k, v] of Object.entries(doc)) {
    if (!shown.has(k)) out.push(line(k, describe(v)));
  }
  return out.join('\n');
}
