import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CliCommand } from './command.js';
import { CONFIG_OPTION_HELP } from './command.js';
import { adminBaseFromArgs, adminDocument, liveBlock } from './common.js';
import { ExitCode } from '../errors.js';
import { timeouts } from '../core/timeouts.js';
import { formatBytes } from './status-format.js';
import type { AgentView } from '../download-agent/agent.js';

/** The admin port's /images document is the download agent's view. */
type ImagesDoc = AgentView;

function isDoc(v: unknown): v is ImagesDoc {
  return typeof v === 'object' && v !== null && Array.isArray((v as { images?: unknown }).images);
}

function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const full = Math.round(f * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}%`;
}

export function render(doc: ImagesDoc, withBars: boolean): string[] {
  const lines: string[] = [];
  const head = `sync: ${doc.running ? 'running' : 'idle'}; last catalogue ${doc.lastSyncAt ?? 'never'}; window ${doc.windowOpen ? 'open' : `closed (opens ${doc.nextWindowAt ?? 'never'})`}`;
  lines.push(head);
  if (doc.lastError) lines.push(`last error: ${doc.lastError}`);
  if (doc.images.length === 0) {
    lines.push('no images in the desired set');
    return lines;
  }
  lines.push(`${'IMAGE'.padEnd(20)} ${'VERSION'.padEnd(12)} ${'STATE'.padEnd(9)} ${'SIZE'.padStart(10)}  PROGRESS`);
  for (const i of doc.images) {
    const frac = i.size > 0 ? i.bytes / i.size : 1;
    const progress =
      withBars && i.state === 'syncing' ? bar(frac) : i.state === 'synced' ? '100%' : i.state === 'rejected' ? '-' : `${formatBytes(i.bytes)} (${(frac * 100).toFixed(0)}%)`;
    const tail = i.reason ? `  ${i.reason}` : `  ${i.path}`;
    lines.push(`${i.imageId.slice(0, 20).padEnd(20)} ${i.version.slice(0, 12).padEnd(12)} ${i.state.padEnd(9)} ${formatBytes(i.size).padStart(10)}  ${progress}${tail}`);
  }
  return lines;
}

export const command: CliCommand = {
  name: 'images',
  summary: 'list the firmware images of the desired set with state, size and progress',
  usage: `cloud-relay images [--config FILE] [--admin HOST:PORT] [--json] [--follow]\n${CONFIG_OPTION_HELP}\n  --admin HOST:PORT admin address of the running relay (default: from config, else 127.0.0.1:9090)\n  --json            print the raw document\n  --follow          redraw with progress bars until no sync is running (Ctrl-C to stop)\nExit codes with --follow: 0 synced, 1 an image failed or was rejected, 75 nothing moved for 10 minutes, 69 no relay answering.`,
  async run(args) {
    const { values } = parseArgs({ args, options: { config: { type: 'string' }, admin: { type: 'string' }, json: { type: 'boolean' }, follow: { type: 'boolean' } } });
    const base = adminBaseFromArgs(values);
    if (typeof base === 'number') return base;
    const fetchDoc = (): Promise<ImagesDoc | number> => adminDocument(base, '/images', 'image list', (body) => (isDoc(body) ? body : undefined));
    const first = await fetchDoc();
    if (typeof first === 'number') return first;
    if (values.json) {
      console.log(JSON.stringify(first, null, 2));
      return ExitCode.OK;
    }
    if (!values.follow) {
      console.log(render(first, false).join('\n'));
      return ExitCode.OK;
    }
    return followImages(first, fetchDoc, liveBlock());
  },
};

export interface FollowTiming {
  readonly intervalMs: number;
  /** Give up when the document has not changed for this long while a sync is said to run. */
  readonly stallMs: number;
  readonly now: () => number;
  readonly wait: (ms: number) => Promise<unknown>;
}

const FOLLOW_TIMING: FollowTiming = {
  intervalMs: timeouts.cliImagesFollow.ms,
  stallMs: timeouts.cliImagesFollowStall.ms,
  now: () => performance.now(),
  wait: (ms) => sleep(ms),
};

/**
 * Redraws until no sync runs (exit 0, or 1 if an image failed or was rejected). Bounded either
 * way: a running sync moves its bytes or states, and one that has not changed for stallMs
 * ends the command with 75 instead of redrawing the same bars for ever.
 */
export async function followImages(
  first: ImagesDoc,
  fetchDoc: () => Promise<ImagesDoc | number>,
  draw: (lines: readonly string[]) => void,
  t: FollowTiming = FOLLOW_TIMING,
): Promise<number> {
  let doc = first;
  let seen = JSON.stringify(doc);
  let changedAt = t.now();
  for (;;) {
    draw(render(doc, true));
    const busy = doc.running || doc.images.some((i) => i.state === 'syncing');
    if (!busy) return doc.images.some((i) => i.state === 'failed' || i.state === 'rejected') ? ExitCode.FAILURE : ExitCode.OK;
    if (t.now() - changedAt >= t.stallMs) {
      console.error(`cloud-relay images: nothing moved for ${Math.round(t.stallMs / 1000)} s while a sync is said to run; see \`cloud-relay status\` and the relay log`);
      return ExitCode.TEMP_FAIL;
    }
    await t.wait(t.intervalMs);
    const next = await fetchDoc();
    if (typeof next === 'number') return next;
    const text = JSON.stringify(next);
    if (text !== seen) {
      seen = text;
      changedAt = t.now();
    }
    doc = next;
  }
}
