/**
 * The layers of src/, lowest first: measure (and util) < engine < protocols,
 * targets, testbed, report < run, cli. A layer may import what is below it,
 * never what is above: the engine must stay protocol-free so any driver can
 * plug into it, and measure/report must stay pure so they can judge results
 * from any source. `npm run lint:deps` and test/architecture.test.ts check it.
 *
 * Type-only imports count (tsPreCompilationDeps): a type that points up is
 * the same wrong direction even though tsc erases it.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle has no lower end: move the shared piece into the module that is lower.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'engine-is-protocol-free',
      severity: 'error',
      comment: 'The engine owns the driver contract; protocols, targets, the testbed, reports and the CLI build on it.',
      from: { path: '^src/engine/' },
      to: { path: ['^src/(protocols|targets|testbed|report)/', '^src/(cli|run)\\.ts$'] },
    },
    {
      name: 'report-is-protocol-free',
      severity: 'error',
      comment: 'Reports format results (src/result.ts), not engine or driver internals.',
      from: { path: '^src/report/' },
      to: { path: '^src/(engine|protocols)/' },
    },
    {
      name: 'measure-is-lowest',
      severity: 'error',
      comment: 'Measurement is pure arithmetic on results: it may import src/result.ts types, nothing above.',
      from: { path: '^src/measure/' },
      to: { path: ['^src/(engine|protocols|report|targets|testbed)/', '^src/(cli|run)\\.ts$'] },
    },
    {
      name: 'util-is-lowest',
      severity: 'error',
      comment: 'Helpers shared across layers depend on nothing in src/.',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: '^src/util/' },
    },
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
