import { Html, html, trusted, type Interpolation } from './html.js';
import { percent } from './format.js';

/** How healthy something looks; drives colours only, never the wording. */
export type Tone = 'ok' | 'warn' | 'bad' | 'idle';

export function badge(tone: Tone, text: string): Html {
  return html`<span class="badge ${tone}">${text}</span>`;
}

export function toned(tone: Tone, text: Interpolation): Html {
  return html`<span class="t-${tone}">${text}</span>`;
}

export interface Segment {
  readonly value: number;
  readonly tone: Tone;
  readonly label: string;
}

/**
 * A horizontal bar of one or more segments out of `total`, drawn as SVG rectangles in a
 * 0..100 view box (so widths are attributes, which the page's CSP allows, not styles).
 * The accessible name carries the numbers.
 */
export function bar(segments: readonly Segment[], total: number): Html {
  let x = 0;
  const rects: Html[] = [];
  for (const s of segments) {
    const w = percent(s.value, total);
    if (w <= 0) continue;
    const width = Math.min(w, 100 - x);
    rects.push(html`<rect class="s-${s.tone}" x="${round(x)}" y="0" width="${round(width)}" height="10"/>`);
    x += width;
  }
  const label = segments.map((s) => `${s.label}: ${s.value}`).join(', ') + ` of ${total}`;
  return html`<svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="${label}"><rect class="track" x="0" y="0" width="100" height="10"/>${rects}</svg>`;
}

export function legend(segments: readonly Segment[]): Html {
  return html`<div class="legend">${segments.map((s) => html`<span><i class="${s.tone}"></i>${s.value.toLocaleString('en-US')} ${s.label}</span>`)}</div>`;
}

function round(n: number): string {
  return (Math.round(n * 100) / 100).toString();
}

/** A definition list of label/value rows; rows with an undefined value are left out. */
export function facts(rows: readonly (readonly [string, Interpolation] | undefined)[]): Html {
  return html`<dl>${rows.filter((r): r is readonly [string, Interpolation] => r !== undefined && r[1] !== undefined).map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl>`;
}

/** A column: its heading, and whether it holds numbers (right-aligned). */
export type Column = string | readonly [string, 'n'];

/** A row of cells, one per column, or a whole row of its own (a summary line). */
export type Row = readonly Interpolation[] | Html;

/**
 * A table whose cells carry their column's name, so that on a phone screen each row is
 * shown as a small stack of "label value" lines instead of a squeezed grid.
 */
export function table(columns: readonly Column[], rows: readonly Row[]): Html {
  const name = (c: Column) => (typeof c === 'string' ? c : c[0]);
  const cls = (c: Column) => (typeof c === 'string' ? '' : ' class="n"');
  const th = columns.map((c) => html`<th${trusted(cls(c))}>${name(c)}</th>`);
  const tr = rows.map((r) =>
    r instanceof Html ? r : html`<tr>${r.map((cell, i) => html`<td${trusted(cls(columns[i] ?? ''))} data-label="${name(columns[i] ?? '')}">${cell}</td>`)}</tr>`,
  );
  return html`<div class="scroll"><table><thead><tr>${th}</tr></thead><tbody>${tr}</tbody></table></div>`;
}

export function empty(text: string): Html {
  return html`<p class="empty">${text}</p>`;
}

/** Worst of several tones (bad > warn > ok > idle). */
export function worst(...tones: Tone[]): Tone {
  for (const t of ['bad', 'warn', 'ok'] as const) if (tones.includes(t)) return t;
  return 'idle';
}
