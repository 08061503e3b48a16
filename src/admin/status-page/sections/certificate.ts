import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatTime, relative, secondsSince } from '../format.js';
import { badge, empty, facts, toned, type Tone } from '../widgets.js';

/** Warn inside 30 days, as the certificate manager's own expiry warnings do. */
const WARN_DAYS = 30;
const CRITICAL_DAYS = 7;

export function expiryTone(notAfter: string, now: number): Tone {
  const left = -(secondsSince(notAfter, now) ?? 0) / 86_400;
  if (left <= CRITICAL_DAYS) return 'bad';
  if (left <= WARN_DAYS) return 'warn';
  return 'ok';
}

export const certificateSection: SectionRenderer = (doc, now) => {
  const cert = doc.cert;
  if (cert === undefined) return undefined;
  if ('reason' in cert) {
    return {
      id: 'cert',
      title: 'Phone-facing certificate',
      tone: 'warn',
      verdict: badge('warn', 'not loaded'),
      body: html`${empty('No certificate loaded yet.')}<p class="muted">${cert.reason}</p>`,
    };
  }
  const expTone = expiryTone(cert.notAfter, now);
  const problems = cert.problems ?? [];
  const tone: Tone = !cert.valid || expTone === 'bad' ? 'bad' : expTone === 'warn' || problems.length > 0 || cert.selfSigned ? 'warn' : 'ok';
  const expired = (secondsSince(cert.notAfter, now) ?? 0) >= 0;
  const verdict = !cert.valid
    ? badge('bad', 'invalid')
    : expired
      ? badge('bad', 'expired')
      : cert.selfSigned
        ? badge('warn', 'self-signed')
        : badge(tone, expTone === 'ok' ? 'valid' : 'expiring');
  const body = html`${facts([
    ['Subject', html`<code>${cert.subject}</code>`],
    ['Names (SAN)', cert.sans.length ? cert.sans.map((s, i) => html`${i ? ', ' : ''}<code>${s}</code>`) : html`<span class="muted">none</span>`],
    ['Expires', html`${toned(expTone, `${formatTime(cert.notAfter)} (${expired ? 'expired ' : ''}${relative(cert.notAfter, now)})`)}`],
    cert.selfSigned ? ['Issuer', toned('warn', 'self-signed: phones will not trust it unless told to')] : undefined,
  ])}${problems.length ? html`<h3>Problems</h3><ul class="plain">${problems.map((p) => html`<li class="err">${p}</li>`)}</ul>` : ''}`;
  return { id: 'cert', title: 'Phone-facing certificate', tone, verdict, body };
};
