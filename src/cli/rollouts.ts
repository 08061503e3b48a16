import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBaseFromArgs, adminDocument, liveBlock } from './common.js';
import { ExitCode } from '../errors.js';
import { timeouts } from '../core/timeouts.js';
import { rolloutsDocumentSchema, type RolloutView, type RolloutsDocument } from '../device-work/rollouts/view.js';

/** States a rollout does not leave; --follow ends once every rollout it follows is in one. */
const OVER = new Set(['done', 'aborted', 'cancelled']);

/** An ISO time to the minute, UTC: enough to read a window and short enough for a table. */
function at(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')}Z`;
}

export function windowText(r: RolloutView): string {
  if (r.finishedAt !== null || OVER.has(r.state)) return '-';
  if (r.window === null) return 'no window left';
  if (r.window.open) return r.window.end === null ? 'open' : `open until ${at(r.window.end)}`;
  return `opens ${at(r.window.start)}`;
}

function finished(r: RolloutView): number {
  const t = r.totals;
  const endedUnstarted = OVER.has(r.state) ? t.notStarted : 0;
  return t.upgraded + t.alreadyCurrent + t.failed + t.notApplicable + endedUnstarted;
}

function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

function counts(r: RolloutView): string {
  const t = r.totals;
  return `upgraded ${t.upgraded}, already current ${t.alreadyCurrent}, upgrading ${t.inProgress}, waiting for idle ${t.waitingIdle}, failed ${t.failed}, not applicable ${t.notApplicable}, not started ${t.notStarted} of ${t.total}`;
}

/** Column titles (upper-cased when printed) and widths; the first two are left-aligned. */
const COLUMNS: readonly [string, number][] = [
  ['rollout', 20],
  ['state', 9],
  ['total', 6],
  ['upgraded', 8],
  ['current', 7],
  ['running', 7],
  ['idle-wait', 9],
  ['failed', 6],
  ['n/a', 5],
  ['not-started', 11],
];
const HEAD = `${COLUMNS.map(([t, w], i) => (i < 2 ? t.padEnd(w) : t.padStart(w))).join(' ')}  window`.toUpperCase();

export function renderList(doc: RolloutsDocument): string[] {
  if (doc.rollouts.length === 0) return ['no rollouts'];
  const lines = [HEAD];
  for (const r of doc.rollouts) {
    const t = r.totals;
    lines.push(
      `${r.rolloutId.slice(0, 20).padEnd(20)} ${r.state.padEnd(9)} ${String(t.total).padStart(6)} ${String(t.upgraded).padStart(8)} ${String(t.alreadyCurrent).padStart(7)} ${String(t.inProgress).padStart(7)} ${String(t.waitingIdle).padStart(9)} ${String(t.failed).padStart(6)} ${String(t.notApplicable).padStart(5)} ${String(t.notStarted).padStart(11)}  ${windowText(r)}`,
    );
  }
  return lines;
}

export function renderShow(r: RolloutView): string[] {
  const p = r.policy;
  const lines = [
    `rollout      ${r.rolloutId} (${r.name})`,
    `image        ${r.imageId}`,
    `state        ${r.state}${r.reason ? `: ${r.reason}` : ''}`,
    `submitted    ${r.submittedAt}${r.finishedAt ? `; over ${r.finishedAt}` : ''}`,
    `policy       ${p.schedule}${p.timezone ? ` (${p.timezone})` : ''}; at most ${p.maxConcurrent} at once${p.maxPerMinute !== null ? `, ${p.maxPerMinute}/min` : ''}; idle ${p.idleMinutes} min before a phone starts`,
    `window       ${windowText(r)}`,
    `devices      ${counts(r)}`,
  ];
  for (const f of r.failures) lines.push(`failed       ${f.deviceId}: ${f.reason ?? 'no reason recorded'}`);
  return lines;
}

/** One progress line per rollout for --follow: the bar counts devices that have their result. */
export function renderProgress(rollouts: readonly RolloutView[]): string[] {
  if (rollouts.length === 0) return ['no rollouts'];
  const lines: string[] = [];
  for (const r of rollouts) {
    const t = r.totals;
    lines.push(`${r.rolloutId.slice(0, 20).padEnd(20)} ${r.state.padEnd(9)} ${bar(t.total > 0 ? finished(r) / t.total : 1)}  window: ${windowText(r)}`);
    lines.push(`${''.padEnd(20)} ${counts(r)}${r.reason ? `; ${r.reason}` : ''}`);
  }
  return lines;
}

export const command: CliCommand = {
  name: 'rollouts',
  summary: 'list firmware rollouts with their state, devices per outcome and window; show one; follow them',
  usage:
    `cloud-relay rollouts [show ROLLOUT-ID] [--config FILE] [--admin HOST:PORT] [--json] [--follow]\n${CONFIG_OPTION_HELP}\n` +
    '  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n' +
    '  --json            print the raw document (the one rollout with show)\n' +
    '  --follow          redraw a progress bar per rollout until every one followed is over (Ctrl-C to stop);\n' +
    '                    plain lines, one set per change, when stdout is not a terminal\n\n' +
    'Exit codes: 0 ok, 1 a followed rollout ended aborted or cancelled, 66 no such rollout, 69 no relay answering.',
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { config: { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' }, follow: { type: 'boolean' } },
    });
    let only: string | undefined;
    if (positionals.length > 0) {
      if (positionals[0] !== 'show' || positionals.length !== 2) {
        console.error(`cloud-relay rollouts: expected "show ROLLOUT-ID", got "${positionals.join(' ')}"\nUsage: ${this.usage}`);
        return ExitCode.USAGE;
      }
      only = positionals[1];
    }
    const base = adminBaseFromArgs(values);
    if (typeof base === 'number') return base;
    const fetchDoc = (): Promise<RolloutsDocument | number> =>
      adminDocument(base, '/rollouts', 'rollout list', (body) => {
        const doc = rolloutsDocumentSchema.safeParse(body);
        return doc.success ? doc.data : undefined;
      });
    const pick = (doc: RolloutsDocument): RolloutView[] | number => {
      if (only === undefined) return doc.rollouts;
      const r = doc.rollouts.find((x) => x.rolloutId === only);
      if (!r) {
        console.error(`cloud-relay rollouts: the relay has no rollout ${only} (among its ${doc.rollouts.length} newest)`);
        return ExitCode.NO_INPUT;
      }
      return [r];
    };
    const first = await fetchDoc();
    if (typeof first === 'number') return first;
    const picked = pick(first);
    if (typeof picked === 'number') return picked;
    if (values.json) {
      console.log(JSON.stringify(only !== undefined ? picked[0] : first, null, 2));
      return ExitCode.OK;
    }
    if (!values.follow) {
      console.log((only !== undefined && picked[0] ? renderShow(picked[0]) : renderList(first)).join('\n'));
      return ExitCode.OK;
    }
    // Without an id, follow the rollouts not over when the command started (finished ones need no bar).
    const followed = new Set((only !== undefined ? picked : picked.filter((r) => r.finishedAt === null)).map((r) => r.rolloutId));
    let current = picked.filter((r) => followed.has(r.rolloutId));
    const draw = liveBlock();
    // Bounded by the rollouts: each ends (a paused one is left by Ctrl-C).
    for (;;) {
      draw(renderProgress(current));
      if (current.every((r) => r.finishedAt !== null)) return current.some((r) => r.state === 'aborted' || r.state === 'cancelled') ? ExitCode.FAILURE : ExitCode.OK;
      await sleep(timeouts.cliRolloutsFollow.ms);
      const next = await fetchDoc();
      if (typeof next === 'number') return next;
      current = next.rollouts.filter((r) => followed.has(r.rolloutId));
    }
  },
};
