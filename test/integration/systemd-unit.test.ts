import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const UNIT = fileURLToPath(new URL('../../systemd/cloud-relay.service', import.meta.url));

function hasSystemdAnalyze(): boolean {
  return !spawnSync('systemd-analyze', ['--version']).error;
}

describe('systemd/cloud-relay.service', () => {
  it('passes systemd-analyze verify without warnings', (ctx) => {
    if (!hasSystemdAnalyze()) return ctx.skip('systemd-analyze not installed (apt-get install systemd)');
    const r = spawnSync('systemd-analyze', ['verify', UNIT], { encoding: 'utf8' });
    // verify exits 0 on unknown keys too; any line naming the unit file is a problem in it.
    const aboutUnit = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('cloud-relay.service'));
    expect(aboutUnit).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('has a systemd-analyze security exposure of 2.0 or lower', (ctx) => {
    if (!hasSystemdAnalyze()) return ctx.skip('systemd-analyze not installed (apt-get install systemd)');
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', UNIT], { encoding: 'utf8' });
    const m = /Overall exposure level for cloud-relay\.service: ([0-9.]+)/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const score = Number(m![1]);
    // Recorded in the test output so CI logs carry the score.
    console.log(
      `systemd-analyze security --offline=true: exposure ${score}\n${r.stdout
        .split('\n')
        .filter((l) => l.startsWith('✗'))
        .join('\n')}`,
    );
    expect(score).toBeLessThanOrEqual(2.0);
  });

  it('keeps the properties the relay depends on', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(UNIT, 'utf8');
    const set = (key: string) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${key}=`))
        .map((l) => l.slice(key.length + 1));
    expect(set('Type')).toEqual(['notify']);
    expect(set('StateDirectory')).toEqual(['cloud-relay cloud-relay-keys']);
    expect(set('ProtectSystem')).toEqual(['strict']);
    expect(set('NoNewPrivileges')).toEqual(['yes']);
    expect(set('CapabilityBoundingSet')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(set('AmbientCapabilities')).toEqual(['CAP_NET_BIND_SERVICE']);
    expect(set('Restart')).toEqual(['on-failure']);
    expect(set('User')).toEqual(['cloud-relay']);
    // Node's JIT needs W+X memory, and a user namespace would void CAP_NET_BIND_SERVICE on the host.
    expect(set('MemoryDenyWriteExecute')).toEqual(['no']);
    expect(set('PrivateUsers')).toEqual(['no']);
  });

  it('gives node the same flags as the container image, and node accepts them', async () => {
    const { readFileSync } = await import('node:fs');
    const unit = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(readFileSync(UNIT, 'utf8'))?.[1];
    const image = /^\s*(?:ENV\s+)?NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8'))?.[1];
    expect(image).toBe(unit);
    // A flag this node does not know makes it exit 9 before running anything.
    const r = spawnSync(process.execPath, ['-e', 'process.exit(0)'], { env: { ...process.env, NODE_OPTIONS: unit ?? '' }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
