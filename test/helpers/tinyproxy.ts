import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { waitFor } from './wait.js';

/** The Debian package's binary (`.ci/run` installs tinyproxy); undefined where it is missing. */
export const tinyproxyBin = ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'].find((b) => existsSync(b));

/** Outgoing connections of the proxy leave from this loopback address, so a server can tell a tunnelled request from a direct one. */
export const PROXY_EGRESS = '127.0.0.9';

export interface Tinyproxy {
  readonly port: number;
  /** `http://[user:password@]127.0.0.1:port` */
  url(credentials?: string): string;
  /** Every CONNECT target the proxy was asked for (`host:port`), in order, from its log. */
  connects(): string[];
  close(): Promise<void>;
}

/**
 * A real tinyproxy on loopback with Basic authentication, CONNECT allowed to `connectPorts` only
 * (anything else is refused with 403 by policy), outgoing connections bound to PROXY_EGRESS.
 */
export async function startTinyproxy(o: { dir: string; user: string; password: string; connectPorts: readonly number[] }): Promise<Tinyproxy> {
  if (!tinyproxyBin) throw new Error('tinyproxy is not installed');
  // tinyproxy must be told its port: one probed free can be taken by another test's connection
  // before tinyproxy binds it, so a start that dies is tried again on another port.
  for (let attempt = 1; ; attempt++) {
    const started = await startOnce(tinyproxyBin, o, await freePort());
    if (started.ok) return started.proxy;
    if (attempt === 3) throw new Error(`tinyproxy did not start (3 ports tried): ${started.why}`);
  }
}

async function startOnce(
  bin: string,
  o: { dir: string; user: string; password: string; connectPorts: readonly number[] },
  port: number,
): Promise<{ ok: true; proxy: Tinyproxy } | { ok: false; why: string }> {
  const log = join(o.dir, `tinyproxy-${port}.log`);
  const conf = join(o.dir, `tinyproxy-${port}.conf`);
  writeFileSync(log, '');
  writeFileSync(
    conf,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      `Bind ${PROXY_EGRESS}`,
      'Timeout 30',
      `LogFile "${log}"`,
      'LogLevel Connect',
      'MaxClients 64',
      `BasicAuth ${o.user} ${o.password}`,
      ...o.connectPorts.map((p) => `ConnectPort ${p}`),
      'Allow 127.0.0.1',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(bin, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const logText = () => readFileSync(log, 'utf8');
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
  // Generous: under a full parallel suite on 2 cores a process start can take seconds.
  const up = await waitFor(async () => (child.exitCode !== null ? 'exited' : (await accepts()) ? 'up' : false), {
    timeoutMs: 15_000,
    message: `tinyproxy listening on ${port}`,
  }).catch((err: unknown) => String(err));
  if (up !== 'up') {
    child.kill('SIGKILL');
    await exited;
    return { ok: false, why: `${up} (${stderr.trim()})` };
  }
  return {
    ok: true,
    proxy: {
      port,
      url: (credentials) => `http://${credentials ? `${credentials}@` : ''}127.0.0.1:${port}`,
      connects: () => [...logText().matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP/g)].map((m) => m[1]!),
      async close() {
        if (child.exitCode === null) child.kill('SIGTERM');
        await exited;
      },
    },
  };
}
