import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { KvStore } from '../../src/store/kv.js';
import { InboundRepository } from '../../src/store/inbound.js';
import { InboundDispatcher, parseFrame, InvalidFrameError } from '../../src/management-agent/inbound.js';
import { FrameRefused } from '../../src/core/ports.js';
import type { InboundHandlers } from '../../src/management-agent/ports.js';
import { createLogger } from '../../src/log.js';
import { systemClock } from '../../src/core/clock.js';
import { tempDir } from '../helpers/relay-config.js';

const frame = (id: string, extra: Record<string, unknown> = {}) => JSON.stringify({ v: 1, id, type: 'task.delete', ts: new Date().toISOString(), taskId: 't1', ...extra });

describe('InboundDispatcher', () => {
  let dir: string;
  let db: Db;
  let kv: KvStore;
  let repo: InboundRepository;
  const handlers: InboundHandlers = {};
  const answers: string[] = [];
  const make = () => new InboundDispatcher({ repo, handlers, onAnswer: (ref, kind) => answers.push(`${kind}:${ref}`), log: createLogger('silent'), clock: systemClock });
  beforeEach(() => {
    dir = tempDir('cr-inbound-');
    db = openDb(join(dir, 'data'));
    kv = new KvStore(db);
    repo = new InboundRepository(db);
    for (const k of Object.keys(handlers)) delete handlers[k as keyof InboundHandlers];
    answers.length = 0;
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores and runs a frame once; a duplicate is acked again without running', () => {
    let runs = 0;
    handlers['task.delete'] = () => {
      runs++;
      kv.set('side-effect', String(runs));
    };
    const d = make();
    expect(d.receive(frame('f1'), false)).toEqual({ type: 'ack', ref: 'f1' });
    expect(d.receive(frame('f1'), false)).toEqual({ type: 'ack', ref: 'f1' });
    expect(runs).toBe(1);
    expect(repo.get('f1')?.state).toBe('done');
  });

  it("a refusal becomes a nack with the reason, undoes the handler's writes, and is answered the same way again", () => {
    handlers['task.delete'] = () => {
      kv.set('half-done', 'yes');
      throw new FrameRefused('task t1 is executing');
    };
    const d = make();
    expect(d.receive(frame('f2'), false)).toEqual({ type: 'nack', ref: 'f2', reason: 'task t1 is executing' });
    expect(kv.get('half-done')).toBeUndefined();
    expect(d.receive(frame('f2'), false)).toEqual({ type: 'nack', ref: 'f2', reason: 'task t1 is executing' });
  });

  it('a handler bug leaves the frame stored (acked) and it is run again at the next start', () => {
    let fail = true;
    let runs = 0;
    handlers['task.delete'] = () => {
      runs++;
      if (fail) throw new Error('bug');
    };
    expect(make().receive(frame('f3'), false)).toEqual({ type: 'ack', ref: 'f3' });
    expect(repo.get('f3')?.state).toBe('pending');
    fail = false;
    expect(make().redispatchPending()).toBe(1);
    expect(repo.get('f3')?.state).toBe('done');
    expect(runs).toBe(2);
  });

  it('ack/nack from the DMS go to the outbox, not to the store', () => {
    const d = make();
    expect(d.receive(JSON.stringify({ v: 1, id: 'a1', type: 'ack', ts: new Date().toISOString(), ref: 'o1' }), false)).toBeUndefined();
    expect(answers).toEqual(['ack:o1']);
    expect(repo.get('a1')).toBeUndefined();
  });

  it('parseFrame names the fault with a specific code', () => {
    const code = (data: string | Buffer, binary = false) => {
      try {
        parseFrame(data, binary);
        return 'ok';
      } catch (e) {
        return e instanceof InvalidFrameError ? `${e.code}:${e.ref ?? 'null'}` : 'other';
      }
    };
    expect(code('{')).toBe('FRAME_BAD_JSON:null');
    expect(code('"x"')).toBe('FRAME_NOT_OBJECT:null');
    expect(code(JSON.stringify({ v: 1, type: 'images.sync' }))).toBe('FRAME_BAD_ID:null');
    expect(code(JSON.stringify({ v: 3, id: 'i', type: 'images.sync' }))).toBe('FRAME_BAD_VERSION:i');
    expect(code(JSON.stringify({ v: 1, id: 'i', type: 'nope', ts: new Date().toISOString() }))).toBe('FRAME_UNKNOWN_TYPE:i');
    expect(code(JSON.stringify({ v: 1, id: 'i', type: 'images.sync' }))).toBe('FRAME_INVALID_FIELD:i');
    expect(code(Buffer.from('{}'), true)).toBe('FRAME_BINARY:null');
    expect(code('x'.repeat(1024 * 1024 + 1))).toBe('FRAME_TOO_LARGE:null');
    expect(code(frame('ok'))).toBe('ok');
  });
});
