import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/db.js';
import { OutboxRepository } from '../../src/store/outbox.js';
import { DurableOutbox } from '../../src/management-agent/outbox.js';
import { createLogger } from '../../src/log.js';
import { systemClock } from '../../src/core/clock.js';
import { RelayError } from '../../src/errors.js';
import { tempDir } from '../helpers/relay-config.js';
import { waitFor } from '../helpers/wait.js';

const ev = (n: number) => ({ ip: '127.0.0.1', event: { n } });
const nOf = (text: string) => (JSON.parse(text) as { event: { n: number } }).event.n;

describe('DurableOutbox', () => {
  let dir: string;
  let db: Db;
  let repo: OutboxRepository;
  const log = createLogger('silent');
  beforeEach(() => {
    dir = tempDir('cr-outbox-');
    db = openDb(join(dir, 'data'));
    repo = new OutboxRepository(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stores complete v1 frames and survives a reopen of the database', () => {
    const ob = new DurableOutbox(repo, systemClock, log, 10, 100);
    const id = ob.enqueue('image.status', { imageId: 'i1', state: 'synced', bytes: 5 });
    db.close();
    db = openDb(join(dir, 'data'));
    repo = new OutboxRepository(db);
    const again = new DurableOutbox(repo, systemClock, log, 10, 100);
    expect(again.depth()).toBe(1);
    const frame = JSON.parse(repo.after(0, 1)[0]!.frame) as Record<string, unknown>;
    expect(frame).toMatchObject({ v: 1, id, type: 'image.status', imageId: 'i1', state: 'synced', bytes: 5 });
    expect(typeof frame.ts).toBe('string');
  });

  it('sends in order within the window, continues as acks arrive, and starts over from the oldest unacked on a new connection', async () => {
    const ob = new DurableOutbox(repo, systemClock, log, 3, 100);
    const ids = [0, 1, 2, 3, 4].map((n) => ob.enqueue('device.event', ev(n)));
    const sent: number[] = [];
    ob.attach((t) => {
      sent.push(nOf(t));
      return true;
    });
    await waitFor(() => sent.length === 3);
    expect(sent).toEqual([0, 1, 2]);
    ob.answered(ids[1]!, 'ack');
    await waitFor(() => sent.length === 4);
    expect(sent).toEqual([0, 1, 2, 3]);
    // New connection: 0, 2, 3 unacked are resent first, in order, then 4.
    ob.detach();
    const second: number[] = [];
    ob.attach((t) => {
      second.push(nOf(t));
      return true;
    });
    await waitFor(() => second.length === 3);
    expect(second).toEqual([0, 2, 3]);
    ob.answered(ids[0]!, 'ack');
    await waitFor(() => second.length === 4);
    expect(second).toEqual([0, 2, 3, 4]);
    expect(ob.depth()).toBe(3);
  });

  it('a frame enqueued in a transaction that rolls back is never sent', async () => {
    const ob = new DurableOutbox(repo, systemClock, log, 10, 100);
    const sent: number[] = [];
    ob.attach((t) => {
      sent.push(nOf(t));
      return true;
    });
    expect(() =>
      repo.transaction(() => {
        ob.enqueue('device.event', ev(1));
        throw new Error('handler failed');
      }),
    ).toThrow('handler failed');
    ob.enqueue('device.event', ev(2));
    await waitFor(() => sent.length === 1);
    expect(sent).toEqual([2]);
    expect(repo.count()).toBe(1);
  });

  it('refuses new frames beyond its bound with OUTBOX_FULL', () => {
    const ob = new DurableOutbox(repo, systemClock, log, 10, 2);
    ob.enqueue('device.event', ev(1));
    ob.enqueue('device.event', ev(2));
    let err: unknown;
    try {
      ob.enqueue('device.event', ev(3));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RelayError);
    expect((err as RelayError).code).toBe('OUTBOX_FULL');
  });
});
