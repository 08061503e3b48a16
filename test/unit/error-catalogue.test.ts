import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { errorCatalogue, isErrorCode, type ErrorCode } from '../../src/core/error-catalogue.js';
import { RelayError } from '../../src/core/relay-error.js';
import { ExitCode } from '../../src/errors.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');
const CATALOGUE_FILE = join(SRC, 'core', 'error-catalogue.ts');
// The simulators stand in for other people's software: their codes are not the relay's.
const NOT_RELAY = [join(SRC, 'sim')];

/**
 * Upper-case string literals in src/ that are not relay error codes. Anything else shaped
 * like a code must be in the catalogue, so a code cannot be logged or returned without an
 * entry in docs/errors.md.
 */
const NOT_CODES: readonly { test: (s: string) => boolean; why: string }[] = [
  { test: (s) => /^(E[A-Z]+|EAI_[A-Z]+|ERR_[A-Z0-9_]+|UND_ERR_[A-Z_]+|HPE_[A-Z_]+)$/.test(s), why: 'Node.js / undici / llhttp error codes the relay reads' },
  { test: (s) => ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT'].includes(s), why: 'HTTP methods' },
  { test: (s) => /^SIG[A-Z]+$/.test(s), why: 'signal names' },
  { test: (s) => /^SQLITE_[A-Z_]+$/.test(s), why: 'SQLite result codes the relay reads' },
  { test: (s) => /^TLS_(AES|CHACHA20)_[A-Z0-9_]+$/.test(s), why: 'TLS 1.3 cipher suites' },
  { test: (s) => /^CLOUD_RELAY_[A-Z0-9_]*$/.test(s), why: 'environment variable names' },
  { test: (s) => ['CERTIFICATE', 'TRUSTED CERTIFICATE'].includes(s), why: 'PEM labels' },
  { test: (s) => s === 'JSESSIONID', why: 'the session cookie name OpenStage phones expect' },
  { test: (s) => ['TCP4', 'TCP6', 'UNKNOWN'].includes(s), why: 'PROXY protocol v1 keywords' },
  {
    test: (s) =>
      [
        'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
        'SELF_SIGNED_CERT_IN_CHAIN',
        'DEPTH_ZERO_SELF_SIGNED_CERT',
        'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
        'UNABLE_TO_GET_ISSUER_CERT',
        'CERT_SIGNATURE_FAILURE',
        'CERT_UNTRUSTED',
      ].includes(s),
    why: 'OpenSSL certificate verification results the relay reads',
  },
  { test: (s) => ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'].includes(s), why: 'the standard proxy environment variables' },
  {
    test: (s) => ['IMAGE', 'VERSION', 'STATE', 'SIZE', 'PROGRESS', 'MISSING', 'READY', 'DRAINING', 'FAIL', 'EXPIRED', 'SKIP'].includes(s),
    why: 'headings and status words in CLI output',
  },
];

function sourceFiles(dir: string): string[] {
  if (NOT_RELAY.includes(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}

/** Every code-shaped literal ('X', "X" or `X` without interpolation) with where it is. */
function codeShapedLiterals(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    if (file === CATALOGUE_FILE) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (/^\s*(\/\/|\*|\/\*)/.test(line)) return;
      for (const m of line.matchAll(/(['"`])([A-Z][A-Z0-9_]{3,})\1/g)) {
        const at = `${relative(ROOT, file)}:${i + 1}`;
        found.set(m[2]!, [...(found.get(m[2]!) ?? []), at]);
      }
    });
  }
  return found;
}

describe('error catalogue', () => {
  const literals = codeShapedLiterals();

  it('catalogues every code used in src/', () => {
    const missing = [...literals].filter(([s]) => !isErrorCode(s) && !NOT_CODES.some((n) => n.test(s))).map(([s, at]) => `${s} (${at.join(', ')})`);
    expect(missing, 'add these to src/core/error-catalogue.ts (or to NOT_CODES here if they are not error codes)').toEqual([]);
  });

  it('has no dead entries', () => {
    const dead = (Object.keys(errorCatalogue) as ErrorCode[]).filter((code) => !literals.has(code));
    expect(dead, 'catalogued but used nowhere in src/: remove them, or use them').toEqual([]);
  });

  it('gives every code a sentence and a sysexits status from the known set', () => {
    const statuses = new Set<number>(Object.values(ExitCode));
    for (const [code, spec] of Object.entries(errorCatalogue) as [ErrorCode, (typeof errorCatalogue)[ErrorCode]][]) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]{3,}$/);
      expect(spec.sentence.length, code).toBeGreaterThan(20);
      expect(spec.sentence, code).toMatch(/[.)]$/);
      if ('exit' in spec) expect(statuses.has(spec.exit), `${code} exit ${spec.exit}`).toBe(true);
    }
  });

  it('keeps the simulators independent of it', () => {
    const simDirs = [join(SRC, 'sim'), join(ROOT, 'sim')].filter((d) => {
      try {
        return statSync(d).isDirectory();
      } catch {
        return false;
      }
    });
    const catalogue = new Set(['src/errors.ts', 'src/core/error-catalogue.ts', 'src/core/relay-error.ts'].map((f) => join(ROOT, f)));
    const importers = simDirs
      .flatMap((d) => readdirRecursive(d))
      .filter((f) => [...readFileSync(f, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)].some((m) => catalogue.has(join(dirname(f), `${m[1]!}.ts`))));
    expect(importers.map((f) => relative(ROOT, f))).toEqual([]);
  });

  it('types RelayError by the catalogue', () => {
    const err = new RelayError('PFX_CORRUPT', 'damaged', { cause: new Error('inner') });
    expect(err.code).toBe('PFX_CORRUPT');
    expect(err.name).toBe('RelayError');
    expect(errorCatalogue[err.code].area).toBe('certificate');
    // @ts-expect-error a code missing from the catalogue does not compile
    void new RelayError('PFX_CORUPT', 'typo');
  });
});

describe('docs/errors.md', () => {
  it('matches the catalogue (regenerate with `npm run docs:errors -- --write`)', async () => {
    const { errorsDoc, ERRORS_DOC } = await import('../../scripts/error-docs.js');
    expect(readFileSync(join(ROOT, ERRORS_DOC), 'utf8')).toBe(errorsDoc());
  });

  it('is linked from the README troubleshooting section', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const troubleshooting = readme.slice(readme.indexOf('## Troubleshooting'));
    expect(troubleshooting).toContain('(docs/errors.md)');
  });
});

function readdirRecursive(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' || name === 'dist' ? [] : readdirRecursive(p);
    return p.endsWith('.ts') ? [p] : [];
  });
}
