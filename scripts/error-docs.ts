import { writeFileSync } from 'node:fs';
import { errorCatalogue, type ErrorArea, type ErrorCode, type ErrorSpec } from '../src/core/error-catalogue.js';

/**
 * docs/errors.md, generated from the error catalogue so the two cannot drift.
 * `npm run docs:errors` prints it; `npm run docs:errors -- --write` rewrites the file
 * (a unit test fails when it differs from what this prints).
 */
export const ERRORS_DOC = 'docs/errors.md';

const AREA_TITLES: Record<ErrorArea, string> = {
  startup: 'Start-up',
  config: 'Configuration',
  store: 'Data directory and database',
  registration: 'Registration and the DMS API',
  heartbeat: 'Heartbeat',
  control: 'Control channel',
  frames: 'Frames to and from the DMS',
  certificate: 'Phone-facing certificate',
  'phone-https': 'Phone-facing HTTPS port',
  'ip-guard': 'IP guard',
  cache: 'Firmware cache',
  images: 'Image sync',
  devices: 'Calls to phones',
};

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/\n/g, ' ');
}

export function errorsDoc(): string {
  const out: string[] = [
    '# Error codes',
    '',
    '<!-- Generated from src/core/error-catalogue.ts by `npm run docs:errors -- --write`; do not edit. -->',
    '',
    'Every code cloud-relay writes to its log (`"code"` field), answers a caller with (a nack',
    'reason, a task result, an HTTP response) or exits with is listed here. Codes are stable:',
    'search the log for the code, then read its line below.',
    '',
    '- **Retry?** — `yes`: transient, the relay retries by itself where it can; `no`: nothing',
    '  changes until an admin (or the DMS) fixes something; `depends`: the message says (for',
    '  example the upstream HTTP status).',
    '- **Exit** — the sysexits(3) status of the command that stops because of the code',
    '  (`cloud-relay start`, `register`, `cert check`/`cert install`); 78 (EX_CONFIG) makes',
    '  systemd stop restarting the service.',
    '',
    'Codes of Node.js or undici (`ECONNREFUSED`, `ENOSPC`, `UND_ERR_CONNECT_TIMEOUT`,',
    '`HPE_HEADER_OVERFLOW`, …) can appear in the same `code` field when they are the most precise',
    'thing known about a network or disk failure; they keep their usual meaning.',
    '',
  ];
  const byArea = new Map<ErrorArea, ErrorCode[]>();
  for (const code of Object.keys(errorCatalogue) as ErrorCode[]) {
    const area = errorCatalogue[code].area;
    byArea.set(area, [...(byArea.get(area) ?? []), code]);
  }
  for (const area of Object.keys(AREA_TITLES) as ErrorArea[]) {
    const codes = byArea.get(area);
    if (!codes) continue;
    out.push(`## ${AREA_TITLES[area]}`, '', '| Code | Meaning | Retry? | Exit |', '|---|---|---|---|');
    for (const code of [...codes].sort()) {
      const spec: ErrorSpec = errorCatalogue[code];
      out.push(`| \`${code}\` | ${cell(spec.sentence)} | ${spec.retry} | ${spec.exit ?? '—'} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/scripts\//, '/scripts/'));
if (isMain) {
  if (process.argv.includes('--write')) {
    writeFileSync(ERRORS_DOC, errorsDoc());
    process.stdout.write(`wrote ${ERRORS_DOC}\n`);
  } else {
    process.stdout.write(errorsDoc());
  }
}

