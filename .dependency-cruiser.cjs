// The intended parts of spanledger and the arrows allowed between them, checked in CI
// (`npm run boundaries`); a forbidden import fails the build with the rule's name.
//
//   pure cores     ledger/core, projections/core: decisions and folds, no I/O
//   adapters       ledger/{spanner,kafka,memory,observability}, ledger/*.ts, projections/spanner
//   application    app/: wires cores and adapters for every face
//   faces          commands/ (the CLI), index.ts (the library), scripts/ (demo, benches)
//   dev tooling    emulator/: local Spanner emulator and Kafka broker processes
const PURE_CORES = '^(ledger|projections)/core/';
const ADAPTERS = '^(ledger/(?!core/)|projections/(?!core/))';
const PRODUCTION = '^(app|ledger|projections|commands)/|^index\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'A cycle makes two modules one: neither can be read, tested or moved alone.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'pure-core-no-io',
      comment: 'The pure cores decide and fold; they import no Node built-in (no clock, file, network or process).',
      severity: 'error',
      from: { path: PURE_CORES },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'pure-core-only-cores',
      comment: 'A pure core imports only the pure cores (and npm libraries such as zod): never an adapter, app/ or a face.',
      severity: 'error',
      from: { path: PURE_CORES },
      to: { dependencyTypesNot: ['npm', 'core'], pathNot: PURE_CORES },
    },
    {
      name: 'ledger-core-not-projections',
      comment: 'The ledger core knows nothing of the views folded from it.',
      severity: 'error',
      from: { path: '^ledger/core/' },
      to: { path: '^projections/' },
    },
    {
      name: 'adapters-not-app-or-faces',
      comment: 'Adapters serve the application layer; they never import it, the CLI, the scripts or the dev tooling.',
      severity: 'error',
      from: { path: ADAPTERS },
      to: { path: '^(app|commands|scripts|emulator|bin|examples|esm)/|^index\\.ts$' },
    },
    {
      name: 'app-not-faces',
      comment: 'app/ is called by the faces (CLI, library, relays, scripts), never the reverse.',
      severity: 'error',
      from: { path: '^app/' },
      to: { path: '^(commands|scripts|emulator|bin|examples|esm)/|^index\\.ts$' },
    },
    {
      name: 'production-not-emulator',
      comment: 'Production code never starts or finds local emulators; only the CLI\'s `dev` command (dev.ts, dev-stack.ts) and the scripts do.',
      severity: 'error',
      from: { path: PRODUCTION, pathNot: '^commands/dev(-stack)?\\.ts$' },
      to: { path: '^emulator/' },
    },
    {
      name: 'production-not-tests',
      comment: 'Nothing outside tests/ imports test support.',
      severity: 'error',
      from: { pathNot: '^tests/' },
      to: { path: '^tests/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
  },
};
