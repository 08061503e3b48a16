import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { CLI } from '../helpers/child.js';

const COMMANDS = ['start', 'status', 'config', 'register', 'cert', 'ip', 'images', 'diag', 'doctor'];

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '' }, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err && typeof err.code === 'number' ? err.code : err ? -1 : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('cloud-relay help and exit codes (built CLI)', () => {
  it('lists every command in --help and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} +\\S`, 'm'));
    expect(r.stdout).not.toMatch(/not built yet/);
  });

  it('gives every command its own --help with a usage line, exit 0', async () => {
    const results = await Promise.all(COMMANDS.map(async (c) => [c, await cli([c, '--help'])] as const));
    for (const [c, r] of results) {
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toMatch(new RegExp(`Usage: cloud-relay ${c}`));
    }
  });

  it('answers usage errors with 64 (EX_USAGE)', async () => {
    const [unknown, none, badOption] = await Promise.all([cli(['frobnicate']), cli([]), cli(['status', '--no-such-option'])]);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect(none.code).toBe(64);
    expect(badOption.code).toBe(64);
    expect(badOption.stderr).toMatch(/Usage: cloud-relay status/);
  });

  it('answers "no relay running" with 69 (EX_UNAVAILABLE) from status', async () => {
    const r = await cli(['status', '--admin', '127.0.0.1:9']);
    expect(r.code).toBe(69);
    expect(r.stderr).toMatch(/no relay answers at http:\/\/127\.0\.0\.1:9/);
  });

  it('prints its version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
