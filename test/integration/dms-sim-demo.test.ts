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
      const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
      expect(code, out).toBe(0);
      expect(out).toMatch(/registered: relay id [0-9a-f-]{36}/);
      expect(out).toMatch(/readiness: 200/);
      expect(out).toMatch(/heartbeat #2 from relay/);
      expect(out).toMatch(/relay answered task [0-9a-f]{8}: (ack|nack)/);
      expect(out).toMatch(/control channel from relay \S+ closed \(1001/);
      expect(out).toContain('stopped.');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
