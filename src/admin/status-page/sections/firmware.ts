import type { FirmwareImageStatus } from '../../../core/status.js';
import type { SectionRenderer } from '../section.js';
import { html } from '../html.js';
import { formatBytes, formatCount, formatTime, percent, relative } from '../format.js';
import { badge, bar, empty, facts, table, toned, worst, type Row, type Tone } from '../widgets.js';

const STATE_TONE: Record<string, Tone> = { synced: 'ok', syncing: 'warn', pending: 'idle', failed: 'bad', rejected: 'bad' };

function imageRow(img: FirmwareImageStatus): Row {
  const tone = STATE_TONE[img.state] ?? 'idle';
  const progress =
    img.state === 'syncing'
      ? html`${bar([{ value: img.bytes, tone: 'warn', label: 'downloaded' }], img.size)}<span class="muted">${percent(img.bytes, img.size).toFixed(0)} % of ${formatBytes(img.size)}</span>`
      : html`<span class="muted">${formatBytes(img.size)}</span>`;
  return [html`<code>${img.path}</code>${img.reason ? html`<div class="err">${img.reason}</div>` : ''}`, img.version, toned(tone, img.state), progress];
}

export const firmwareSection: SectionRenderer = (doc, now) => {
  const cache = doc.firmwareCache;
  const sync = doc.firmwareSync;
  if (!cache && !sync) return undefined;
  const tones: Tone[] = [];
  const parts = [];
  if (cache) {
    const used = percent(cache.bytes, cache.quotaBytes);
    const useTone: Tone = used >= 95 ? 'warn' : 'ok';
    tones.push(useTone, cache.lastError ? 'warn' : 'ok');
    parts.push(html`${bar([{ value: cache.bytes, tone: useTone, label: 'used' }], cache.quotaBytes)}
${facts([
  [
    'Cache use',
    html`${formatBytes(cache.bytes)} of ${formatBytes(cache.quotaBytes)} (${used.toFixed(1)} %) in ${formatCount(cache.objects)} file${cache.objects === 1 ? '' : 's'}`,
  ],
  ['Served', html`${formatCount(cache.hits)} hits, ${formatCount(cache.misses)} misses${cache.fills ? html`, ${toned('warn', `${cache.fills} filling now`)}` : ''}`],
  cache.lastError
    ? ['Last cache error', html`<span class="err">${cache.lastError.message}</span> <span class="muted">(${cache.lastError.code}, ${relative(cache.lastError.at, now)})</span>`]
    : undefined,
])}`);
  }
  if (sync) {
    const counts = { synced: 0, syncing: 0, failed: 0 };
    for (const i of sync.images) {
      if (i.state === 'synced') counts.synced++;
      else if (i.state === 'syncing') counts.syncing++;
      else if (i.state === 'failed' || i.state === 'rejected') counts.failed++;
    }
    tones.push(counts.failed ? 'bad' : counts.syncing ? 'warn' : 'ok', sync.lastError ? 'warn' : 'ok');
    parts.push(html`<h3>Images the DMS wants here</h3>
${facts([
  ['Last sync', sync.lastSyncAt ? `${formatTime(sync.lastSyncAt)} (${relative(sync.lastSyncAt, now)})` : html`<span class="muted">not yet</span>`],
  sync.nextWindowAt && !sync.windowOpen ? ['Sync window', `closed; opens ${formatTime(sync.nextWindowAt)}`] : undefined,
  sync.lastError ? ['Last sync error', html`<span class="err">${sync.lastError}</span>`] : undefined,
])}
${sync.images.length ? table(['Image', 'Version', 'State', 'Progress'], sync.images.map(imageRow)) : empty('The DMS has not asked for any firmware image.')}`);
  }
  const tone = worst(...tones);
  const fills = sync?.images.filter((i) => i.state === 'syncing').length ?? 0;
  const failed = sync?.images.filter((i) => i.state === 'failed' || i.state === 'rejected').length ?? 0;
  const verdict = failed ? badge('bad', `${failed} failed`) : fills ? badge('warn', `${fills} syncing`) : badge(tone, 'in sync');
  return { id: 'firmware', title: 'Firmware cache', tone, verdict, body: html`${parts}` };
};
