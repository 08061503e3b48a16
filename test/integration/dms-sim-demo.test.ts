import { describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../helpers/child.js';
import { tempDir } from '../helpers/relay-config.js';

describe('npm run demo', () => {
  it('shows registration, heartbeats and a task round trip, then stops cleanly (--once)', async () => {
    const dir = tempDir('cr-demo-');
    try {
      const proc = spawn(process.execPath, [join(REPO_ROOT, 'dist-sim', 'demo.js'), '--once', '--admin', '127.0.0.1:0', '--dir', join(dir, 'd')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
      // 'close', not 'exit': the demo's last lines can still be in the pipe at 'exit'.
      const code = await new Promise<number | null>((resolve) => proc.on('close', (c: number | null) => resolve(c)));
      expect(code, out).toBe(0);
      expect(out).toMatch(/registered: relay id [0-9a-f-]{36}/);
      expect(out).toMatch(/readiness: 200/);
      expect(out).toMatch(/heartbeat #2 from relay/);
      expect(out).toMatch(/relay answered task [0-9a-f]{8}: (ack|nack)/);
      // OpenStage phones beside the Polycom ones: a read, a write held back during a call, a deployment from the cache.
      expect(out).toMatch(/read e164 and device-type: success/);
      expect(out).toMatch(/write display-id during a call: success \(the phone was in a call: written once it was idle again\)/);
      expect(out).toMatch(/software deployment of openstage-v3r5\.16 from the cache: success \(upgraded from the relay cache\)/);
      expect(out).toMatch(/control channel from relay \S+ closed \(1001/);
      expect(out).toContain('stopped.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
