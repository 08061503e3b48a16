import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { badge, empty, table, toned } from '../widgets.js';

export const readinessSection: SectionRenderer = (doc) => {
  const r = doc.readiness;
  if (!r) return undefined;
  const rows = r.checks.map((c) => html`<tr><td>${c.name}</td><td>${c.ok ? toned('ok', 'ok') : toned('bad', 'failing')}</td><td>${c.detail ?? ''}</td></tr>`);
  const tone = r.ready ? 'ok' : 'bad';
  return {
    id: 'readiness',
    title: 'Readiness',
    tone,
    verdict: badge(tone, r.ready ? 'ready' : 'not ready'),
    body: rows.length ? table(['Check', 'Result', 'Detail'], rows) : empty('No readiness checks registered.'),
  };
};
