import { writeFileSync } from 'node:fs';
import { errorCatalogue, type ErrorArea, type ErrorCode, type ErrorSpec } from '../src/core/error-catalogue.js';
import { timeouts, type TimeoutArea, type TimeoutName, type TimeoutSpec } from '../src/core/timeouts.js';

/**
 * docs/errors.md and docs/timeouts.md, generated from the error catalogue and the timeouts
 * table so they cannot drift. `npm run docs:errors` prints both; `npm run docs:errors -- --write`
 * rewrites the files (a unit test fails when they differ from what this prints).
 */
export const ERRORS_DOC = 'docs/errors.md';
export const TIMEOUTS_DOC = 'docs/timeouts.md';

const AREA_TITLES: Record<ErrorArea, string> = {
  startup: 'Start-up',
  config: 'Configuration',
  store: 'Data directory and database',
  registration: 'Registration and the DMS API',
  'outbound-proxy': 'Outbound proxy (the path to the DMS)',
  heartbeat: 'Heartbeat',
  control: 'Control channel',
  frames: 'Frames to and from the DMS',
  certificate: 'Phone-facing certificate',
  'phone-https': 'Phone-facing HTTPS port',
  'ip-guard': 'IP guard',
  cache: 'Firmware cache',
  images: 'Image sync',
  devices: 'Calls to phones',
  rollouts: 'Firmware rollouts',
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

const TIMEOUT_AREA_TITLES: Record<TimeoutArea, string> = {
  dms: 'Towards the DMS',
  'phone-https': 'Phone-facing HTTPS port and provisioning pass-through',
  firmware: 'Firmware cache',
  devices: 'Calls to phones and tasks',
  local: 'This machine, the admin port and the CLI',
};

function duration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1_000 && ms % 1_000 === 0) return `${ms / 1_000} s`;
  return `${ms} ms`;
}

export function timeoutsDoc(): string {
  const out: string[] = [
    '# Timeouts',
    '',
    '<!-- Generated from src/core/timeouts.ts by `npm run docs:errors -- --write`; do not edit. -->',
    '',
    'Every time limit cloud-relay puts on a wait. **Kind**: `timeout` — the wait fails when it',
    'runs out; `idle` — an unused connection is closed after it; `interval` — how often something',
    'is done or checked; `delay` — first wait before a retry (later retries back off from it);',
    '`threshold` — a wait longer than this is reported. Where a **Setting** is named, the',
    'value comes from that setting (see the settings table in the README) and the default is its',
    'default; the others are fixed in this build.',
    '',
    'The error codes named here are explained in [errors.md](errors.md).',
    '',
  ];
  const byArea = new Map<TimeoutArea, TimeoutName[]>();
  for (const name of Object.keys(timeouts) as TimeoutName[]) {
    const area = timeouts[name].area;
    byArea.set(area, [...(byArea.get(area) ?? []), name]);
  }
  for (const area of Object.keys(TIMEOUT_AREA_TITLES) as TimeoutArea[]) {
    const names = byArea.get(area);
    if (!names) continue;
    out.push(`## ${TIMEOUT_AREA_TITLES[area]}`, '', '| Name | Kind | Default | What it bounds | Setting |', '|---|---|---|---|---|');
    for (const name of names) {
      const t: TimeoutSpec = timeouts[name];
      out.push(`| \`${name}\` | ${t.kind} | ${duration(t.ms)} | ${cell(t.bounds)} | ${t.setting ? `\`${t.setting}\`` : '—'} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\/scripts\//, '/scripts/'));
if (isMain) {
  if (process.argv.includes('--write')) {
    writeFileSync(ERRORS_DOC, errorsDoc());
    writeFileSync(TIMEOUTS_DOC, timeoutsDoc());
    process.stdout.write(`wrote ${ERRORS_DOC} and ${TIMEOUTS_DOC}\n`);
  } else {
    process.stdout.write(`${errorsDoc()}\n${timeoutsDoc()}`);
  }
}
