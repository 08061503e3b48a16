import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { InboundRepository } from '../../src/store/inbound.js';
import { InboundDispatcher, type Reply } from '../../src/management-agent/inbound.js';
import { inboundFrameSchema, MAX_FRAME_BYTES } from '../../src/management-agent/frames.js';
import type { InboundHandlers } from '../../src/management-agent/ports.js';
import { FrameRefused } from '../../src/core/ports.js';
import { createLogger } from '../../src/log.js';
import { systemClock } from '../../src/core/clock.js';
import { tempDir } from '../helpers/relay-config.js';
import { fuzzParams, fuzzTimeout } from './budget.js';

/**
 * Hostile frames from the control channel into the real validator and dispatcher (over a
 * real SQLite store): whatever arrives, receive() returns an answer and never throws, a
 * refused frame is nacked and logged with one of its catalogued codes, and a handler only
 * ever sees a frame that satisfies the schema.
 */
const CODES = new Set([
  'FRAME_BINARY',
  'FRAME_TOO_LARGE',
  'FRAME_BAD_JSON',
  'FRAME_NOT_OBJECT',
  'FRAME_BAD_ID',
  'FRAME_BAD_VERSION',
  'FRAME_UNKNOWN_TYPE',
  'FRAME_INVALID_FIELD',
  'FRAME_UNSUPPORTED',
  'FRAME_REFUSED',
  'FRAME_DUPLICATE',
]);
const TYPES = ['task.submit', 'task.update', 'task.delete', 'images.sync', 'cert.install', 'ack', 'nack', 'device.status', 'x'];

const target = { deviceId: 'd1', mac: '0004f2000001', ip: '127.20.0.1', vendor: 'polycom', credentials: { user: 'u', password: 'p' } };
const validFrames = (id: string): Record<string, unknown>[] => [
  { v: 1, id, ts: new Date().toISOString(), type: 'task.submit', taskId: `t-${id}`, command: { kind: 'reboot', args: {} }, targets: [target] },
  { v: 1, id, ts: new Date().toISOString(), type: 'task.update', taskId: 't', targets: [target] },
  { v: 1, id, ts: new Date().toISOString(), type: 'task.delete', taskId: 't' },
  { v: 1, id, ts: new Date().toISOString(), type: 'images.sync' },
  { v: 1, id, ts: new Date().toISOString(), type: 'cert.install', pfx: 'AAAA', passphrase: 'x' },
];

/** A value at a random path of a valid frame replaced (or removed): the near misses a validator gets wrong. */
const mutated = fc
  .tuple(fc.nat(4), fc.string({ maxLength: 12 }), fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }), fc.option(fc.jsonValue({ maxDepth: 4 }), { nil: undefined }))
  .map(([which, id, path, value]) => {
    const frame = validFrames(id || 'f')[which]!;
    let node: Record<string, unknown> = frame;
    const keys = ['command', 'targets', 'credentials', 'args', ...path];
    for (const k of keys.slice(0, path.length)) {
      const next = node[k];
      if (typeof next !== 'object' || next === null) break;
      node = next as Record<string, unknown>;
    }
    const key = path[path.length - 1] ?? 'v';
    if (value === undefined) delete node[key];
    else node[key] = value;
    return JSON.stringify(frame);
  });

const deepNest = fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.boolean()).map(([n, arr]) => (arr ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n)));
const hugeString = fc
  .tuple(fc.integer({ min: 1_000, max: MAX_FRAME_BYTES + 4_096 }), fc.constantFrom('name', 'taskId', 'id', 'reason', 'pfx'))
  .map(([n, field]) => JSON.stringify({ ...validFrames('big')[0], [field]: 'x'.repeat(n) }));
const anyJson = fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v));
const envelopeish = fc
  .record(
    {
      v: fc.oneof(fc.constant(1), fc.jsonValue({ maxDepth: 1 })),
      id: fc.oneof(fc.string({ maxLength: 140 }), fc.jsonValue({ maxDepth: 1 })),
      type: fc.oneof(fc.constantFrom(...TYPES), fc.string()),
      ts: fc.string(),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));
const frameText = fc.oneof(anyJson, envelopeish, mutated, fc.string({ maxLength: 512 }), fc.string({ unit: 'binary', maxLength: 256 }), deepNest, hugeString);

describe('fuzz: inbound frames into the validator and dispatcher', () => {
  let dir: string;
  let db: Db;
  // Only the codes are kept: parsing every captured line again per run would dominate the budget.
  const codes: (string | undefined)[] = [];
  const logs = { write: (line: string) => void codes.push((JSON.parse(line) as { code?: string }).code) };
  let dispatcher: InboundDispatcher;
  const seen: unknown[] = [];

  beforeAll(() => {
    dir = tempDir('cr-fuzz-frames-');
    db = openDb(join(dir, 'data'));
    const handlers: InboundHandlers = {};
    for (const type of ['task.submit', 'task.update', 'task.delete', 'images.sync', 'cert.install'] as const) {
      (handlers as Record<string, (f: unknown) => void>)[type] = (f) => {
        seen.push(f);
        if ((f as { id: string }).id.length % 3 === 0) throw new FrameRefused('refused by the fuzz handler');
      };
    }
    dispatcher = new InboundDispatcher({ repo: new InboundRepository(db), handlers, onAnswer: () => undefined, log: createLogger('info', logs), clock: systemClock });
  });
  afterAll(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'any text or bytes: an answer, never a throw; a nack carries a reason and its log line a catalogued code',
    () => {
      const rssBefore = process.memoryUsage().rss;
      fc.assert(
        fc.property(frameText, fc.boolean(), (text, binary) => {
          const before = codes.length;
          let reply: Reply | undefined;
          expect(() => (reply = dispatcher.receive(binary ? Buffer.from(text) : text, binary))).not.toThrow();
          if (reply?.type === 'nack') {
            expect(reply.reason.length).toBeGreaterThan(0);
            const coded = codes.slice(before).filter((c) => c !== undefined);
            expect(coded.length).toBeGreaterThan(0);
            for (const c of coded) expect(CODES).toContain(c);
            // A reason is for the DMS's log: bounded, whatever size the input had.
            expect(reply.reason.length).toBeLessThan(4_096);
          }
          const answeredNothing = reply === undefined;
          if (answeredNothing) {
            // Only the DMS's own ack/nack go unanswered; a store failure would be logged as FRAME_STORE_FAILED.
            expect(codes.slice(before)).not.toContain('FRAME_STORE_FAILED');
          }
        }),
        fuzzParams(150),
      );
      for (const f of seen) expect(inboundFrameSchema.safeParse(f).success).toBe(true);
      // Nothing accumulates per frame in memory (everything kept is in SQLite): a loose bound
      // that an input retained per run (up to 1 MiB each) would break.
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    },
    fuzzTimeout(150, 40),
  );
});
