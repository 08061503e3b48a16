import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** The CommonJS modules (by path) a fresh node process holds after importing the built daemon. */
function loadedByDaemon(): string[] {
  const daemon = join(__dirname, '..', '..', 'dist', 'daemon', 'index.js');
  const script = `import(${JSON.stringify(daemon)}).then(() => console.log(JSON.stringify(Object.keys(require.cache))))`;
  return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as string[];
}

describe('what the daemon loads at start (idle memory is mostly library code)', () => {
  it('loads undici’s dispatchers but none of its fetch, WebSocket, mock or cache modules, and no prom-client or https-proxy-agent', () => {
    const loaded = loadedByDaemon();
    expect(loaded.some((k) => k.includes('/undici/lib/dispatcher/'))).toBe(true);
    expect(loaded.filter((k) => /\/undici\/(index\.js|lib\/(web|mock|cache|interceptor)\/)/.test(k))).toEqual([]);
    expect(loaded.filter((k) => /\/node_modules\/(prom-client|@opentelemetry|https-proxy-agent|agent-base)\//.test(k))).toEqual([]);
  });
});
