import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/child.js';

/**
 * Plays systemd's side of sd_notify(3): a datagram socket that prints each message and
 * closes any passed fd (that is how the manager answers systemd-notify's barrier).
 */
const RECEIVER = `
import array, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
s.settimeout(60)
while True:
    msg, anc, _flags, _addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % 4])
            for fd in fds:
                os.close(fd)
    print("MSG " + msg.decode().replace("\\n", " "), flush=True)
`;

function waitForLine(proc: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; got:\n${buf}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      const line = buf.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        clearTimeout(timer);
        proc.stdout?.off('data', onData);
        resolve(line);
      }
    };
    proc.stdout?.on('data', onData);
  });
}

const children: ChildProcess[] = [];
let dir: string | undefined;
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('systemd readiness handshake', () => {
  it('sends READY=1 once started and STOPPING=1 on SIGTERM', async (ctx) => {
    if (spawnSync('systemd-notify', ['--version']).error) return ctx.skip('systemd-notify not installed');
    if (spawnSync('python3', ['--version']).error) return ctx.skip('python3 (used to play the notify socket) not installed');
    dir = mkdtempSync(join(tmpdir(), 'relay-notify-'));
    const socketPath = join(dir, 'notify.sock');
    const receiver = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(receiver);
    await waitForLine(receiver, /^LISTENING/, 10_000);

    const relay = spawn(process.execPath, [CLI, 'start'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH,
        NOTIFY_SOCKET: socketPath,
        // Port 9 refuses: the relay runs unregistered, which must not delay READY (ready = serving).
        CLOUD_RELAY_DMS_URL: 'https://127.0.0.1:9/',
        CLOUD_RELAY_TENANT_ID: 't-notify',
        CLOUD_RELAY_PIN: '123456',
        CLOUD_RELAY_FQDN: 'relay.test',
        CLOUD_RELAY_DATA_DIR: join(dir, 'data'),
        CLOUD_RELAY_HTTPS_LISTEN: '127.0.0.1:0',
        CLOUD_RELAY_ADMIN_LISTEN: '127.0.0.1:0',
        CLOUD_RELAY_LOG_LEVEL: 'warn',
      },
    });
    children.push(relay);
    let stderr = '';
    relay.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const ready = await waitForLine(receiver, /^MSG .*READY=1/, 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\nrelay stderr:\n${stderr}`);
    });
    expect(ready).toContain('STATUS=serving');

    const stopping = waitForLine(receiver, /^MSG .*STOPPING=1/, 30_000);
    const exited = new Promise<number | null>((resolve) => relay.once('exit', (code) => resolve(code)));
    relay.kill('SIGTERM');
    await stopping;
    expect(await exited).toBe(0);
  }, 60_000);
});
