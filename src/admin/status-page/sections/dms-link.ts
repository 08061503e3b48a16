import type { AgentStatus } from '../../../core/status.js';
import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatCount, formatDuration, formatTime, relative, secondsSince } from '../format.js';
import { badge, facts, toned, worst, type Tone } from '../widgets.js';

/** Outbox rows waiting beyond this many mean the DMS is not taking frames as fast as we make them. */
const OUTBOX_WARN = 100;

function heartbeatTone(a: AgentStatus, now: number): Tone {
  if (!a.heartbeat.lastOkAt) return a.registered ? 'warn' : 'bad';
  const age = secondsSince(a.heartbeat.lastOkAt, now) ?? Infinity;
  const interval = a.heartbeat.intervalSeconds ?? 120;
  if (age > interval * 5) return 'bad';
  if (age > interval * 2) return 'warn';
  return 'ok';
}

export const dmsLinkSection: SectionRenderer = (doc, now) => {
  const a = doc.managementAgent;
  if (!a) return undefined;
  const c = a.control;
  const hbTone = heartbeatTone(a, now);
  const controlTone: Tone = c.connected ? 'ok' : a.registered ? 'bad' : 'warn';
  const outboxTone: Tone = a.outboxDepth > OUTBOX_WARN ? 'warn' : 'ok';
  const tone = a.registered ? worst(hbTone, controlTone, outboxTone) : 'bad';
  const verdict = !a.registered ? badge('bad', 'not registered') : c.connected ? badge(tone, 'connected') : badge('bad', 'control channel down');

  const heartbeat = a.heartbeat.lastOkAt
    ? html`${toned(hbTone, `last answered ${relative(a.heartbeat.lastOkAt, now)}`)} <span class="muted">(every ${a.heartbeat.intervalSeconds ?? '?'} s, ${formatCount(a.heartbeat.sent)} sent)</span>`
    : toned(hbTone, 'no heartbeat answered yet');

  let control;
  if (c.connected && c.since) {
    control = html`${toned('ok', 'up')} since ${formatTime(c.since)} <span class="muted">(${formatDuration(secondsSince(c.since, now) ?? 0)})</span>`;
  } else if (c.downSince) {
    control = html`${toned('bad', 'down')} since ${formatTime(c.downSince)} <span class="muted">(${formatDuration(secondsSince(c.downSince, now) ?? 0)})</span>`;
  } else {
    control = toned(c.connected ? 'ok' : 'bad', c.connected ? 'up' : 'down');
  }
  // Red only while it explains an outage; once the channel is back it is history.
  const lastError = c.lastError
    ? html`<span class="${c.connected ? 'muted' : 'err'}">${c.lastError.message}</span> <span class="muted">(${c.lastError.code}, ${relative(c.lastError.at, now)})</span>`
    : undefined;
  const regError = a.lastRegistrationError
    ? html`<span class="err">${a.lastRegistrationError.message}</span> <span class="muted">(${a.lastRegistrationError.code}, ${relative(a.lastRegistrationError.at, now)})</span>`
    : undefined;

  const body = facts([
    ['Relay ID', a.relayId ? html`<code>${a.relayId}</code>` : html`<span class="muted">none yet</span>`],
    ['Tenant', a.tenantId ? html`<code>${a.tenantId}</code>` : html`<span class="muted">not configured</span>`],
    ['Registered', a.registered ? toned('ok', 'yes') : toned('bad', 'no')],
    !a.registered || regError ? ['Registration error', regError ?? html`<span class="muted">none (first attempt pending)</span>`] : undefined,
    ['Heartbeat', heartbeat],
    ['Control channel', control],
    ['Reconnects', formatCount(c.reconnects)],
    lastError && !c.connected ? ['Last error', lastError] : undefined,
    c.connected && lastError ? ['Previous error', lastError] : undefined,
    a.route
      ? ['Route', html`${a.route.via === 'proxy' ? html`through proxy <code>${a.route.proxy ?? '?'}</code>` : 'direct'} <span class="muted">(${a.route.why})</span>`]
      : undefined,
    ['Outbox', html`${toned(outboxTone, formatCount(a.outboxDepth))} frame${a.outboxDepth === 1 ? '' : 's'} waiting for the DMS`],
  ]);
  return { id: 'dms', title: 'DMS link', tone, verdict, body };
};
