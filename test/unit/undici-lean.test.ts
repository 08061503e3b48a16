import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, errors, request } from '../../src/core/undici.js';

describe('the relay’s undici entry point (dispatchers and request without fetch)', () => {
  let server: Server;
  let base: string;
  const seen: { method: string; url: string; body: string }[] = [];
  beforeAll(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', body });
        res.end(`${req.method} ${req.url}`);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends GET by default, keeps the query, and PUT when a body is given (as undici’s own request)', async () => {
    const agent = new Agent();
    try {
      const a = await request(`${base}/x/y?z=1`, { dispatcher: agent });
      expect(await a.body.text()).toBe('GET /x/y?z=1');
      const b = await request(base, { dispatcher: agent, path: 'p/q', body: 'hello' } as unknown as Parameters<typeof request>[1]);
      expect(await b.body.text()).toBe('PUT /p/q');
      expect(seen.at(-1)).toEqual({ method: 'PUT', url: '/p/q', body: 'hello' });
      // Without a dispatcher it uses undici's global one.
      const c = await request(new URL(`${base}/g`), { method: 'POST', body: 'b' });
      expect(await c.body.text()).toBe('POST /g');
    } finally {
      await agent.close();
    }
  });

  it('rejects a bad path with undici’s own error class', () => {
    expect(() => request(`${base}/`, { path: 5 } as unknown as Parameters<typeof request>[1])).toThrow(errors.InvalidArgumentError);
  });
});
