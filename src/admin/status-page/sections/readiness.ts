import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { badge, empty, facts, table, toned } from '../widgets.js';

export const readinessSection: SectionRenderer = (doc) => {
  const r = doc.readiness;
  if (!r) return undefined;
  const rows = r.checks.map((c) => [c.name, c.ok ? toned('ok', 'ok') : toned('bad', 'failing'), c.detail ?? ''] as const);
  const tone = r.ready ? 'ok' : 'bad';
  return {
    id: 'readiness',
    title: 'Readiness',
    tone,
    verdict: badge(tone, r.ready ? 'ready' : 'not ready'),
    body: html`${rows.length ? table(['Check', 'Result', 'Detail'], rows) : empty('No readiness checks registered.')}${
      doc.listeners?.length
        ? html`<h3>Listening on</h3>${facts(doc.listeners.map((l) => [l.name, html`<code class="nw">${l.url}</code> <span class="muted">${l.purpose}</span>`] as const))}`
        : ''
    }`,
  };
};
