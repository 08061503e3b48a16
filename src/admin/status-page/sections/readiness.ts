import type { SectionRenderer } from '../section.js';
import { badge, empty, table, toned } from '../widgets.js';

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
    body: rows.length ? table(['Check', 'Result', 'Detail'], rows) : empty('No readiness checks registered.'),
  };
};
