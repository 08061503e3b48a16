/**
 * Architecture rules (see ARCHITECTURE.md, "Layering"). Run by `npm run lint`, so `npm test`
 * fails on a violation. Paths are relative to the repository root.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment:
        'Parts meet through the contracts in src/core/, never in a circle. Only src/ is cruised: the simulators ' +
        '(top-level sim/) still have one cycle of their own (sim/dms/admin.ts <-> simulator.ts).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'only-the-cli-starts-the-daemon',
      severity: 'error',
      comment: 'src/daemon/ is the composition root: it knows every part, so no part may import it back.',
      from: { path: '^src/', pathNot: ['^src/daemon/', '^src/cli/start\\.ts$', '^src/cli\\.ts$'] },
      to: { path: '^src/daemon/' },
    },
    {
      name: 'relay-never-imports-a-simulator',
      severity: 'error',
      comment: 'Simulators (top-level sim/) are test-world code and are not shipped; src/sim/ is where they used to live.',
      from: { path: '^src/' },
      to: { path: ['^src/sim/', '^sim/'] },
    },
    {
      name: 'drivers-never-touch-the-store',
      severity: 'error',
      comment: 'Device drivers talk to phones; what is persisted is decided by the device work that calls them.',
      from: { path: '^src/devices/' },
      to: { path: '^src/store/' },
    },
    {
      name: 'core-imports-no-part',
      severity: 'error',
      comment: 'src/core/ is the ground floor: contracts every part may use; it depends on libraries only.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve would hide a dependency from every rule above.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
