import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DmsSimulator, TaskSpec } from './simulator.js';
import type { DmsFaults } from './faults.js';
import { HttpProblem, isRecord, readJson, sendJson } from './http-util.js';

export interface AdminApi {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * The simulator's operator API (plain HTTP, loopback only), used by the demo and by tests
 * that drive a relay in another process:
 *
 *   GET  /api/relays                       relays with state (Active/Inactive), connection, counters
 *   GET  /api/relays/:id                   one relay
 *   GET  /api/relays/:id/frames[?type=T]   relay → DMS frames received (deduped, in order)
 *   GET  /api/relays/:id/results           task.state / task.result frames
 *   GET  /api/relays/:id/heartbeats        heartbeat bodies
 *   GET  /api/relays/:id/answers/:frameId  the relay's ack/nack of a frame we sent
 *   POST /api/relays/:id/tasks             {name?, command:{kind,args}, targets[], executeAt?, expiresAt?} → task.submit
 *   POST /api/relays/:id/frames            {frame:{…}} queued like any DMS frame, or {raw:"text"} sent verbatim once
 *   POST /api/relays/:id/actions           {action:"resync-images"|"reregister"} for the next heartbeat answer
 *   POST /api/relays/:id/disconnect        {code?} close (or, without code, drop) the control socket
 *   POST /api/relays/:id/silent            the control session stops answering (half-open)
 *   POST /api/tenants/:tenant/pin          {pin} PIN reset (old one valid 24 h more)
 *   GET|POST /api/faults                   see DmsFaults
 */
export async function startAdminApi(sim: DmsSimulator, host: string, port: number): Promise<AdminApi> {
  const server = createServer((req, res) => void handle(sim, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    url: `http://${h}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(sim: DmsSimulator, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const parts = url.pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  const method = req.method ?? 'GET';
  try {
    if (parts[0] !== 'api') throw new HttpProblem(404, 'not_found');
    const [, area, id, sub, subId] = parts;
    if (area === 'faults') {
      if (method === 'POST') {
        const body = await readJson(req);
        if (!isRecord(body)) throw new HttpProblem(400, 'bad_request', 'faults must be an object');
        return sendJson(res, 200, sim.setFaults(body as DmsFaults));
      }
      return sendJson(res, 200, sim.faults);
    }
    if (area === 'tenants' && id && sub === 'pin' && method === 'POST') {
      const body = await readJson(req);
      if (!isRecord(body) || typeof body.pin !== 'string' || body.pin === '') throw new HttpProblem(400, 'bad_request', 'pin required');
      sim.resetPin(id, body.pin);
      return sendJson(res, 200, { tenantId: id, reset: true });
    }
    if (area !== 'relays') throw new HttpProblem(404, 'not_found');
    if (!id) return sendJson(res, 200, sim.relays());
    const relay = sim.relay(id);
    if (!relay) throw new HttpProblem(404, 'unknown_relay', id);
    if (method === 'GET') {
      if (!sub) return sendJson(res, 200, relay);
      if (sub === 'frames') return sendJson(res, 200, sim.received(id, url.searchParams.get('type') ?? undefined));
      if (sub === 'results') return sendJson(res, 200, sim.results(id));
      if (sub === 'heartbeats') return sendJson(res, 200, sim.heartbeats(id));
      if (sub === 'answers' && subId) return sendJson(res, 200, { frameId: subId, answer: sim.answer(id, subId) ?? null });
      throw new HttpProblem(404, 'not_found');
    }
    if (method !== 'POST') throw new HttpProblem(405, 'method_not_allowed');
    const body = await readJson(req);
    if (!isRecord(body)) throw new HttpProblem(400, 'bad_request', 'body must be a JSON object');
    switch (sub) {
      case 'tasks': {
        const cmd = body.command;
        if (!isRecord(cmd) || typeof cmd.kind !== 'string') throw new HttpProblem(400, 'bad_request', 'command.kind required');
        if (!Array.isArray(body.targets)) throw new HttpProblem(400, 'bad_request', 'targets[] required');
        return sendJson(res, 201, sim.submitTask(id, body as unknown as TaskSpec));
      }
      case 'frames':
        if (typeof body.raw === 'string') return sendJson(res, 200, { sent: sim.sendRaw(id, body.raw) });
        if (isRecord(body.frame)) return sendJson(res, 201, { frameId: sim.sendFrame(id, body.frame) });
        throw new HttpProblem(400, 'bad_request', 'frame{} or raw"" required');
      case 'actions':
        if (typeof body.action !== 'string') throw new HttpProblem(400, 'bad_request', 'action required');
        sim.queueAction(id, body.action);
        return sendJson(res, 200, { queued: body.action });
      case 'disconnect':
        return sendJson(res, 200, { disconnected: sim.disconnect(id, typeof body.code === 'number' ? body.code : undefined) });
      case 'silent':
        return sendJson(res, 200, { silent: sim.goSilent(id) });
      default:
        throw new HttpProblem(404, 'not_found');
    }
  } catch (err) {
    if (err instanceof HttpProblem) return sendJson(res, err.status, { error: err.error, detail: err.detail });
    sendJson(res, 500, { error: 'internal', detail: err instanceof Error ? err.message : String(err) });
  }
}
