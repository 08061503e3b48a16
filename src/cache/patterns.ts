import picomatch from 'picomatch';

/**
 * Firmware path patterns (config cache.firmwarePatterns), matched with picomatch: `*` and `?`
 * within one path segment, `**` across segments (also none, so `**\/*.ld` matches `/sip.ld`),
 * plus picomatch's braces and character classes. Patterns and paths are compared without
 * their leading `/`, so a pattern is anchored at the root whether or not it starts with one.
 * Dot files match like any other (a firmware directory may be called `.fw`), and a leading `!`
 * is literal: one pattern in the list must never turn into "everything but".
 */
export class PathMatcher {
  private readonly match: (path: string) => boolean;

  constructor(patterns: readonly string[]) {
    this.match = patterns.length === 0 ? () => false : picomatch(patterns.map(stripRoot), { dot: true, nonegate: true });
  }

  matches(path: string): boolean {
    return this.match(stripRoot(path));
  }
}

const stripRoot = (p: string): string => p.replace(/^\/+/, '');
