/**
 * A preload for looking at where a relay's memory goes (not part of what ships):
 *   node --import ./bench/dist/bench/footprint-probe.js dist/cli.js start …
 * with FOOTPRINT_PROBE_FILE=/tmp/x.json writes, every FOOTPRINT_PROBE_MS (200), one JSON
 * document: the RSS split as it is now and as it was at the highest RSS seen so far —
 * V8 heap used/total (and per space), external and arrayBuffers (process.memoryUsage()),
 * and anonymous vs file-backed resident memory (/proc/self/status).
 * Everything else resident (OpenSSL, SQLite, libuv, the node binary's own pages) is "rest".
 * FOOTPRINT_SNAPSHOT_HEAP_MB=N (with FOOTPRINT_SNAPSHOT_DIR) also writes one heap snapshot the
 * first time the V8 heap in use passes N MB: what is live at the busiest moment.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { join } from 'node:path';

const file = process.env.FOOTPRINT_PROBE_FILE;
const everyMs = Number(process.env.FOOTPRINT_PROBE_MS ?? 200);
const snapshotAtMB = Number(process.env.FOOTPRINT_SNAPSHOT_HEAP_MB ?? Infinity);
let snapshotTaken = false;

const MB = (n: number) => Math.round((n / 1048576) * 10) / 10;

/** RssAnon / RssFile from /proc/self/status: cheap to read (smaps_rollup costs ~10–20 ms a read, which would show in CPU figures). */
function rss(): { anon?: number; file?: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { anon: Math.round((kb('RssAnon') / 1024) * 10) / 10, file: Math.round((kb('RssFile') / 1024) * 10) / 10 };
  } catch {
    return {};
  }
}

function sample(): Record<string, unknown> {
  const u = process.memoryUsage();
  const spaces: Record<string, string> = {};
  for (const s of getHeapSpaceStatistics()) if (s.space_size > 0) spaces[s.space_name.replace(/_space$/, '')] = `${MB(s.space_used_size)}/${MB(s.space_size)}`;
  const r = rss();
  return {
    rssMB: MB(u.rss),
    heapUsedMB: MB(u.heapUsed),
    heapTotalMB: MB(u.heapTotal),
    externalMB: MB(u.external),
    arrayBuffersMB: MB(u.arrayBuffers),
    restMB: Math.round((MB(u.rss) - MB(u.heapTotal) - MB(u.external)) * 10) / 10,
    anonMB: r.anon,
    fileBackedMB: r.file,
    /** used/committed MB per V8 heap space. */
    spacesMB: spaces,
    at: new Date().toISOString(),
  };
}

if (file) {
  let peak: Record<string, unknown> = sample();
  const write = () => {
    const now = sample();
    if ((now.rssMB as number) >= (peak.rssMB as number)) peak = now;
    if (!snapshotTaken && (now.heapUsedMB as number) >= snapshotAtMB) {
      snapshotTaken = true;
      writeHeapSnapshot(join(process.env.FOOTPRINT_SNAPSHOT_DIR ?? '.', `relay-${process.pid}.heapsnapshot`));
    }
    writeFileSync(file, JSON.stringify({ pid: process.pid, now, peak }));
  };
  setInterval(write, everyMs).unref();
  process.on('exit', write);
}
