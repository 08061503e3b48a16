import type { RolloutSummary } from '../../../core/status.js';
import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatCount, relative } from '../format.js';
import { badge, bar, empty, legend, table, type Row, type Segment, type Tone } from '../widgets.js';

export function phaseSegments(r: RolloutSummary): Segment[] {
  const t = r.totals;
  const counted = t.upgraded + t.alreadyCurrent + t.failed + t.notApplicable + t.notStarted + t.inProgress + t.waitingIdle;
  return [
    { value: t.upgraded + t.alreadyCurrent, tone: 'ok', label: 'upgraded or current' },
    { value: t.failed, tone: 'bad', label: 'failed' },
    { value: t.notApplicable + t.notStarted, tone: 'warn', label: 'skipped' },
    { value: t.inProgress + t.waitingIdle + Math.max(0, t.total - counted), tone: 'idle', label: 'to do' },
  ];
}

const STATE_TONE: Record<string, Tone> = { running: 'ok', waiting: 'idle', paused: 'warn', aborted: 'bad', cancelled: 'warn', done: 'ok' };

export const rolloutsSection: SectionRenderer = (doc, now) => {
  const list = doc.rollouts;
  if (!list) return undefined;
  const rows = list.map((r): Row => {
    const seg = phaseSegments(r);
    return [
      html`${r.name || html`<span class="muted">(unnamed)</span>`}<div class="muted"><code>${r.rolloutId}</code> · ${relative(r.submittedAt, now)}</div>`,
      html`<code>${r.imageId}</code>`,
      html`<span class="t-${STATE_TONE[r.state] ?? 'idle'}">${r.state}</span>${r.reason ? html`<div class="muted">${r.reason}</div>` : ''}`,
      formatCount(r.totals.total),
      html`${bar(seg, r.totals.total)}${legend(seg)}`,
    ];
  });
  const failed = list.reduce((n, r) => n + r.totals.failed, 0);
  const active = list.filter((r) => r.state === 'running' || r.state === 'waiting' || r.state === 'paused').length;
  const tone: Tone = list.some((r) => r.state === 'aborted') ? 'bad' : failed > 0 ? 'warn' : list.length ? 'ok' : 'idle';
  return {
    id: 'rollouts',
    title: 'Firmware rollouts',
    tone,
    verdict: badge(tone, `${active} active`),
    body: rows.length ? table(['Rollout', 'Image', 'State', ['Phones', 'n'], 'Progress'], rows) : empty('No firmware rollouts on this relay.'),
    wide: true,
  };
};
