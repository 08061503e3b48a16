import type { TaskSummary } from '../../../core/status.js';
import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatCount, relative } from '../format.js';
import { badge, bar, empty, legend, table, type Segment, type Tone } from '../widgets.js';

export function outcomeSegments(t: TaskSummary): Segment[] {
  return [
    { value: t.success, tone: 'ok', label: 'success' },
    { value: t.failure, tone: 'bad', label: 'failure' },
    { value: t.notApplicable, tone: 'warn', label: 'not applicable' },
    { value: t.inProgress, tone: 'idle', label: 'to do' },
  ];
}

export const tasksSection: SectionRenderer = (doc, now) => {
  const counts = doc.tasks;
  const list = doc.recentTasks;
  if (!counts && !list) return undefined;
  const tasks = list ?? [];
  const failures = tasks.reduce((n, t) => n + t.failure, 0);
  const tone: Tone = failures > 0 ? 'warn' : tasks.length || (counts && counts.scheduled + counts.running > 0) ? 'ok' : 'idle';
  const summary = counts ? `${formatCount(counts.running)} running, ${formatCount(counts.scheduled)} scheduled` : `${tasks.length} recent`;
  const rows = tasks.map((t) => {
    const seg = outcomeSegments(t);
    return [
      html`${t.name || html`<span class="muted">(unnamed)</span>`}<div class="muted"><code>${t.taskId}</code> · ${relative(t.createdAt, now)}</div>`,
      t.kind,
      t.state,
      formatCount(t.total),
      html`${bar(seg, t.total)}${legend(seg)}`,
    ] as const;
  });
  const body = rows.length ? table(['Task', 'Command', 'State', ['Phones', 'n'], 'Outcomes'], rows) : empty('No tasks from the DMS on this relay.');
  return { id: 'tasks', title: 'Tasks', tone, verdict: badge(tone, summary), body, wide: true };
};
