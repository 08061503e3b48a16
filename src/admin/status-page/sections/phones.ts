import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatCount, formatTime, relative } from '../format.js';
import { badge, bar, empty, table, type Row, type Tone } from '../widgets.js';

export const phonesSection: SectionRenderer = (doc, now) => {
  const p = doc.phones;
  if (!p) return undefined;
  if (p.known === 0) {
    return {
      id: 'phones',
      title: 'Phones',
      tone: 'idle',
      verdict: badge('idle', 'none known'),
      body: empty('No phones known yet: a phone becomes known when a DMS task names it.'),
    };
  }
  const offline = p.known - p.online;
  const tone: Tone = p.online === 0 ? 'bad' : offline > 0 ? 'warn' : 'ok';
  const groups: Row[] = p.groups.map((g): Row => [
    g.model || html`<span class="muted">unknown</span>`,
    g.firmware || html`<span class="muted">unknown</span>`,
    formatCount(g.known),
    formatCount(g.online),
    bar(
      [
        { value: g.online, tone: 'ok', label: 'online' },
        { value: g.known - g.online, tone: 'bad', label: 'offline' },
      ],
      g.known,
    ),
  ]);
  if (p.otherGroups.groups > 0) {
    const o = p.otherGroups;
    groups.push([
      html`<span class="muted">${formatCount(o.groups)} more model/firmware combination${o.groups === 1 ? '' : 's'}</span>`,
      '',
      formatCount(o.known),
      formatCount(o.online),
      bar(
        [
          { value: o.online, tone: 'ok', label: 'online' },
          { value: o.known - o.online, tone: 'bad', label: 'offline' },
        ],
        o.known,
      ),
    ]);
  }
  const offlineRows = p.recentlyOffline.map((d): Row => [
    html`<code>${d.deviceId}</code>`,
    html`<code class="nw">${d.mac}</code>`,
    html`<span class="nw">${d.ip}</span>`,
    d.model,
    d.offlineSince ? html`${relative(d.offlineSince, now)}<div class="muted">${formatTime(d.offlineSince)}</div>` : html`<span class="muted">never seen online</span>`,
  ]);
  const body = html`<div class="big"><div><b>${formatCount(p.known)}</b><span>known</span></div><div><b class="t-ok">${formatCount(p.online)}</b><span>online</span></div><div><b class="${offline ? 't-bad' : 'muted'}">${formatCount(offline)}</b><span>offline</span></div></div>
${bar(
  [
    { value: p.online, tone: 'ok', label: 'online' },
    { value: offline, tone: 'bad', label: 'offline' },
  ],
  p.known,
)}
<h3>By model and firmware</h3>
${table(['Model', 'Firmware', ['Known', 'n'], ['Online', 'n'], 'Share online'], groups)}
<h3>Most recently offline</h3>
${offlineRows.length ? table(['Device', 'MAC', 'IP', 'Model', 'Offline since'], offlineRows) : empty('Every known phone answered its last poll.')}`;
  return { id: 'phones', title: 'Phones', tone, verdict: badge(tone, `${formatCount(p.online)} / ${formatCount(p.known)} online`), body, wide: true };
};
