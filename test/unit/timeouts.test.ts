import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { timeouts, type TimeoutName } from '../../src/core/timeouts.js';
import { allSettings } from '../../src/config/settings.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');
const NOT_RELAY = [join(SRC, 'sim')];
const TABLE_FILE = join(SRC, 'core', 'timeouts.ts');

function sourceFiles(dir: string): string[] {
  if (NOT_RELAY.includes(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && p !== TABLE_FILE ? [p] : [];
  });
}

describe('timeouts table', () => {
  it('leaves no bare timeout literal in src/ (use src/core/timeouts.ts)', () => {
    // A time default written as a number where it is used: `x.timeoutMs ?? 30_000`,
    // `keepAliveTimeout: 30_000`, `timeout: 10_000`, `busy_timeout = 5000`.
    const timeoutish = /(\b\w*(Ms|Timeout|timeout|Delay|Interval)\b[^;,]*\?\? [0-9][0-9_]{2,}\b)|(\b\w*([Tt]imeout|Interval)\s*[:=]\s*[0-9][0-9_]{2,}\b)|(timeout = [0-9]{3,})/;
    const bare = sourceFiles(SRC).flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${relative(ROOT, file)}:${i + 1}` }))
        .filter(({ line }) => !/^\s*(\/\/|\*)/.test(line) && timeoutish.test(line))
        .map(({ line, at }) => `${at}: ${line.trim()}`),
    );
    expect(bare).toEqual([]);
  });

  it('names real settings, and their defaults are the table defaults', () => {
    const settings = new Map(allSettings().map((s) => [s.path, s.defaultValue]));
    for (const [name, t] of Object.entries(timeouts) as [TimeoutName, (typeof timeouts)[TimeoutName]][]) {
      expect(Number.isInteger(t.ms) && t.ms > 0, name).toBe(true);
      expect(t.bounds, name).toMatch(/[.)]$/);
      if (!('setting' in t)) continue;
      expect(settings.has(t.setting), `${name}: setting ${t.setting}`).toBe(true);
      const unit = t.setting.endsWith('Seconds') ? 1000 : 1;
      expect(settings.get(t.setting), `${name}: default of ${t.setting}`).toBe(t.ms / unit);
    }
  });
});

describe('docs/timeouts.md', () => {
  it('matches the table (regenerate with `npm run docs:errors -- --write`)', async () => {
    const { timeoutsDoc, TIMEOUTS_DOC } = await import('../../scripts/error-docs.js');
    expect(readFileSync(join(ROOT, TIMEOUTS_DOC), 'utf8')).toBe(timeoutsDoc());
  });
});
