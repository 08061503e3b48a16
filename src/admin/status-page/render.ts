import { html, trusted, type Html } from './html.js';
import { formatDuration, formatTime } from './format.js';
import { STYLE } from './style.js';
import { badge } from './widgets.js';
import type { PageDocument, Section, SectionRenderer } from './section.js';
import { dmsLinkSection } from './sections/dms-link.js';
import { certificateSection } from './sections/certificate.js';
import { firmwareSection } from './sections/firmware.js';
import { phonesSection } from './sections/phones.js';
import { tasksSection } from './sections/tasks.js';
import { rolloutsSection } from './sections/rollouts.js';
import { ipGuardSection } from './sections/ip-guard.js';
import { readinessSection } from './sections/readiness.js';

/** Seconds between the page's own reloads. */
export const REFRESH_SECONDS = 5;

/** The cards in page order; each renders only when the document has its part. */
export const SECTIONS: readonly SectionRenderer[] = [
  dmsLinkSection,
  certificateSection,
  firmwareSection,
  readinessSection,
  ipGuardSection,
  phonesSection,
  tasksSection,
  rolloutsSection,
];

function card(s: Section): Html {
  return html`<section id="${s.id}" class="${s.tone}${s.wide ? ' wide' : ''}" aria-labelledby="h-${s.id}"><h2 id="h-${s.id}">${s.title} ${s.verdict}</h2>${s.body}</section>`;
}

/**
 * The whole status page for one status document at time `now` (epoch ms): pure, no I/O,
 * so it is tested without sockets and the admin route only adds headers.
 */
export function renderStatusPage(doc: PageDocument, now: number, sections: readonly SectionRenderer[] = SECTIONS): string {
  const cards = sections.map((render) => render(doc, now)).filter((s): s is Section => s !== undefined);
  const relayId = doc.managementAgent?.relayId;
  const state = doc.draining ? badge('warn', 'draining') : doc.readiness ? badge(doc.readiness.ready ? 'ok' : 'bad', doc.readiness.ready ? 'ready' : 'not ready') : '';
  const page = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${REFRESH_SECONDS}">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>${relayId ? `cloud-relay ${relayId}` : 'cloud-relay'} status</title>
<style>${trusted(STYLE)}</style></head>
<body><header><h1>cloud-relay${relayId ? html` <code>${relayId}</code>` : ''}</h1> ${state}
<span class="meta">version ${doc.version} · up ${formatDuration(doc.uptimeSeconds)} (since ${formatTime(doc.startedAt)})</span></header>
<main>${cards.map(card)}</main>
<footer>Generated ${formatTime(new Date(now).toISOString())}; reloads every ${REFRESH_SECONDS} s. Read-only: change things with <code>cloud-relay</code> on the relay host or from the DMS. JSON: <a href="/status">/status</a>, <a href="/readyz">/readyz</a>, <a href="/metrics">/metrics</a>.</footer>
</body></html>
`;
  return page.text;
}
