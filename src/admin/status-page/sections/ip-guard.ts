import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatCount, formatTime, relative } from '../format.js';
import { badge, empty, table, toned, type Tone } from '../widgets.js';

export const ipGuardSection: SectionRenderer = (doc, now) => {
  const g = doc.ipGuard;
  if (!g) return undefined;
  const list = g.addresses ?? [];
  const tone: Tone = g.blocked > 0 ? 'warn' : 'ok';
  const rows = list.map(
    (a) =>
      [
        html`<code class="nw">${a.ip}</code>`,
        a.state === 'blacklisted' ? toned('bad', 'blacklisted') : html`${toned('warn', 'banned')} <span class="muted">until ${a.until ? formatTime(a.until) : '?'}</span>`,
        formatCount(a.bans),
        html`${a.lastFailure ?? ''}${a.lastFailureAt ? html`<div class="muted">${relative(a.lastFailureAt, now)}</div>` : ''}`,
      ] as const,
  );
  const more = g.blocked - list.length;
  const body = html`<p>${formatCount(g.whitelisted)} address${g.whitelisted === 1 ? '' : 'es'} trusted after a good login; ${formatCount(g.blocked)} blocked.</p>
${rows.length ? table(['Address', 'State', ['Bans', 'n'], 'Last failure'], rows) : empty('No address is banned or blacklisted.')}
${more > 0 ? html`<p class="muted">and ${formatCount(more)} more: <code>cloud-relay ip list</code></p>` : ''}
${list.length ? html`<p class="muted">Lift one with <code>cloud-relay ip unban ADDRESS</code> on the relay host.</p>` : ''}`;
  return { id: 'ipguard', title: 'IP guard', tone, verdict: badge(tone, g.blocked ? `${formatCount(g.blocked)} blocked` : 'nothing blocked'), body };
};
