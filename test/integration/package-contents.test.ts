import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/child.js';

interface PackEntry {
  readonly files: readonly { readonly path: string }[];
}

/**
 * What `npm pack` would publish is the relay alone: the simulators, the demo and the test
 * world are tooling of this repository, not part of what an admin installs.
 */
describe('npm pack', () => {
  it('ships the built relay and no simulator file', () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    const [pack] = JSON.parse(out) as PackEntry[];
    const paths = (pack?.files ?? []).map((f) => f.path);
    expect(paths, 'dist/ is built by `npm run build` (pretest)').toContain('dist/cli.js');
    expect(paths).toContain('README.md');
    const tooling = paths.filter((p) => /^(sim|dist-sim|test|bench|scripts|src)\//.test(p) || /(^|\/)(sim|demo)(\/|\.js)/.test(p) || /simulator/i.test(p));
    expect(tooling, 'files npm pack would ship that belong to the simulators or tests').toEqual([]);
  });
});
