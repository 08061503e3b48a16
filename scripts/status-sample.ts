import { formatStatus } from '../src/cli/status-format.js';

/**
 * The README's sample `cloud-relay status` output, generated from a real demo run so it
 * cannot drift from what the demo shows. test/integration/cli-demo.test.ts takes the status
 * document from a running demo, normalises what differs between runs (ids, times, durations,
 * ports bound on 0) and checks the README block; with UPDATE_README=1 it rewrites the block.
 */
export const START = '<!-- status-sample:start (generated from a demo run: `UPDATE_README=1 npx vitest run test/integration/cli-demo.test.ts`; do not edit) -->';
export const END = '<!-- status-sample:end -->';

/** The sample's clock: every time in it is relative to this instant. */
export const SAMPLE_NOW = Date.parse('2026-11-22T22:01:28.000Z');
const SAMPLE_RELAY_ID = '59c97acd-7393-4711-9c0e-d633921446c3';
/** Ports as on a default demo (admin 9090) and a typical ephemeral phone port. */
const SAMPLE_PORTS: Readonly<Record<string, number>> = { admin: 9090, 'phone HTTPS': 43117 };

const iso = (ms: number) => new Date(ms).toISOString();

type Doc = Record<string, unknown>;

function obj(v: unknown): Doc | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Doc) : undefined;
}

/** A copy of a status document with what varies between demo runs set to fixed sample values. */
export function normaliseStatusDoc(doc: Doc): Doc {
  const d = structuredClone(doc);
  d.uptimeSeconds = 21;
  d.startedAt = iso(SAMPLE_NOW - 21_000);
  if (Array.isArray(d.listeners)) {
    d.listeners = d.listeners.map((l: unknown) => {
      const o = obj(l);
      if (!o || typeof o.url !== 'string' || typeof o.name !== 'string') return l;
      return { ...o, url: o.url.replace(/:\d+$/, `:${SAMPLE_PORTS[o.name] ?? 'PORT'}`) };
    });
  }
  const agent = obj(d.managementAgent);
  if (agent) {
    if (typeof agent.relayId === 'string') agent.relayId = SAMPLE_RELAY_ID;
    if (typeof agent.tokenExpiresAt === 'string') agent.tokenExpiresAt = iso(SAMPLE_NOW + 3600_000 - 21_417);
    const hb = obj(agent.heartbeat);
    if (hb) {
      hb.sent = 4;
      if (typeof hb.lastOkAt === 'string') hb.lastOkAt = iso(SAMPLE_NOW - 3_000);
    }
    const control = obj(agent.control);
    if (control && typeof control.since === 'string') control.since = iso(SAMPLE_NOW - 20_000);
  }
  // Status polls are spread over devices.pollIntervalSeconds from start-up: whether one falls
  // inside the demo's first seconds, and whether that phone answered, is chance.
  const work = obj(d.deviceWork);
  if (work) {
    work.polls = 0;
    work.pollFailures = 0;
  }
  const devices = obj(d.devices);
  if (devices) devices.online = 0;
  const cert = obj(d.cert);
  if (cert && typeof cert.notAfter === 'string') cert.notAfter = iso(SAMPLE_NOW - 28_000 + 365 * 86_400_000);
  return d;
}

/** The README block: the command and its output, indented as the list item it sits in. */
export function statusSample(doc: Doc): string {
  const text = formatStatus(normaliseStatusDoc(doc), SAMPLE_NOW);
  return ['```', '$ cloud-relay status', ...text.split('\n'), '```'].map((l) => (l === '' ? '' : `  ${l}`)).join('\n');
}

export function replaceSample(readme: string, sample: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README has no ${START} … ${END} markers`);
  // The markers sit in a list item: keep the end marker's indentation.
  const lineStart = readme.lastIndexOf('\n', b) + 1;
  return `${readme.slice(0, a + START.length)}\n${sample}\n${readme.slice(lineStart)}`;
}
