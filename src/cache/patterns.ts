/**
 * Firmware path patterns (config cache.firmwarePatterns): `*` matches within one path
 * segment, `**` across segments. A pattern without a leading `/` (e.g. `**\/*.ld`) is
 * anchored at the root as if it had one.
 */
export function compilePattern(pattern: string): RegExp {
  const p = pattern.startsWith('/') ? pattern : `/${pattern}`;
  let re = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i] as string;
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        // `/**/` also matches a single `/`, so `/a/**/b` matches `/a/b`.
        if (p[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else {
          re += '.*';
        }
      } else {
        re += '[^/]*';
      }
    } else if (c === '?') {
      re += '[^/]';
    } else {
      re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

export class PathMatcher {
  private readonly res: RegExp[];
  constructor(patterns: readonly string[]) {
    this.res = patterns.map(compilePattern);
  }
  matches(path: string): boolean {
    return this.res.some((r) => r.test(path));
  }
}
