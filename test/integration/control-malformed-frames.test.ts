import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { startHarness, type Harness } from '../helpers/harness.js';
import { waitFor, waitForEvent } from '../helpers/wait.js';

type Answer = { relayId: string; ref: string | null; kind: 'ack' | 'nack'; reason?: string };

const ts = () => new Date().toISOString();
const target = {
  deviceId: 'd1',
  mac: '0004f2aabbcc',
  ip: '127.20.0.5',
  port: 8443,
  vendor: 'polycom',
  model: 'VVX 450',
  credentials: { user: 'Polycom', password: 'dev-secret-1' },
};

describe('malformed DMS frames: each gets its specific error, the relay stays up', () => {
  let h: Harness;
  let relayId: string;
  beforeAll(async () => {
    h = await startHarness();
    relayId = await h.connected();
  });
  afterAll(async () => {
    await h.close();
  });

  async function expectNack(data: string | Buffer, code: string, reason: RegExp, ref: string | null, binary = false): Promise<void> {
    const before = h.logs.withCode(code).length;
    const answer = waitForEvent<Answer>(h.sim.events, 'answer', (a) => a.kind === 'nack' && a.ref === ref);
    expect(h.sim.sendRaw(relayId, data, binary)).toBe(true);
    const a = await answer;
    expect(a.reason).toMatch(reason);
    await waitFor(() => h.logs.withCode(code).length === before + 1, { message: `log line with code ${code}` });
    const line = h.logs.withCode(code).at(-1)!;
    expect(line.level).toBe('warn');
    expect(String(line.msg)).toMatch(reason);
    // Still up, same connection.
    expect(h.sim.connected(relayId)).toBe(true);
  }

  it('bad JSON → nack with ref null', async () => {
    await expectNack('{"v":1,"id":', 'FRAME_BAD_JSON', /not valid JSON/, null);
  });

  it('not an object → nack', async () => {
    await expectNack('[1,2,3]', 'FRAME_NOT_OBJECT', /not a JSON object/, null);
  });

  it('missing id → nack with ref null naming the id field', async () => {
    await expectNack(JSON.stringify({ v: 1, type: 'images.sync', ts: ts() }), 'FRAME_BAD_ID', /field id/, null);
  });

  it('wrong v → nack naming the version', async () => {
    const id = randomUUID();
    await expectNack(JSON.stringify({ v: 2, id, type: 'images.sync', ts: ts() }), 'FRAME_BAD_VERSION', /field v: unsupported protocol version 2/, id);
  });

  it('unknown type → nack naming the type', async () => {
    const id = randomUUID();
    await expectNack(JSON.stringify({ v: 1, id, type: 'relay.selfdestruct', ts: ts() }), 'FRAME_UNKNOWN_TYPE', /unknown frame type "relay\.selfdestruct"/, id);
  });

  it('missing field → nack naming the field', async () => {
    const id = randomUUID();
    await expectNack(
      JSON.stringify({ v: 1, id, type: 'task.submit', ts: ts(), command: { kind: 'reboot', args: {} }, targets: [target] }),
      'FRAME_INVALID_FIELD',
      /field taskId/,
      id,
    );
  });

  it('wrong field → nack naming the nested field path', async () => {
    const id = randomUUID();
    const bad = { ...target, mac: 'not-a-mac' };
    await expectNack(
      JSON.stringify({ v: 1, id, type: 'task.submit', ts: ts(), taskId: 't1', command: { kind: 'reboot', args: {} }, targets: [bad] }),
      'FRAME_INVALID_FIELD',
      /field targets\.0\.mac: must be a MAC address/,
      id,
    );
  });

  it('binary frame → nack', async () => {
    await expectNack(Buffer.from([1, 2, 3]), 'FRAME_BINARY', /binary frames are not accepted/, null, true);
  });

  it('a frame over 1 MiB → the relay closes with 1009, logs it, and reconnects', async () => {
    const closed = waitForEvent<{ relayId: string; code: number }>(h.sim.events, 'disconnected', (e) => e.relayId === relayId);
    const back = waitForEvent<{ relayId: string }>(h.sim.events, 'connected', (e) => e.relayId === relayId);
    const big = JSON.stringify({ v: 1, id: randomUUID(), type: 'images.sync', ts: ts(), pad: 'x'.repeat(1024 * 1024) });
    h.sim.sendRaw(relayId, big);
    expect((await closed).code).toBe(1009);
    await back;
    await waitFor(() => h.logs.withCode('FRAME_TOO_LARGE').length >= 1);
    expect(String(h.logs.withCode('FRAME_TOO_LARGE')[0]!.msg)).toMatch(/1 MiB/);
  });

  it('no secret from a rejected frame reaches the log', () => {
    expect(h.logs.text()).not.toContain('dev-secret-1');
  });
});
