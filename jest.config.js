const { availableParallelism } = require('node:os');

// Type-checking happens in `npm run typecheck`; jest only transpiles (isolatedModules in tsconfig.json), ~3x faster.
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };
const common = { testEnvironment: 'node', transform, setupFiles: ['<rootDir>/test/setup-env.ts'] };

/**
 * `npm test` runs the projects in two passes: unit and infra in parallel workers (no Docker, no
 * shared state: every SDK call is stubbed per file, servers listen on port 0), then host and e2e in
 * band (`--runInBand`), since they share the Docker engine and what runs in it.
 *
 * @type {import('jest').Config}
 */
module.exports = {
  // Jest's default (cores - 1) is one worker on a 2-core machine, and one worker means in band: the
  // main process only schedules, so let every core run a worker. At most 8: a worker holds the SDK
  // clients (an infra one aws-cdk-lib too), a few hundred MB each.
  maxWorkers: Math.min(availableParallelism(), 8),
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    { ...common, displayName: 'host', testMatch: ['<rootDir>/test/host/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    // npm pack, a global install and a CDK app of a user's own (no Docker; minutes: npm and tsc).
    { ...common, displayName: 'pack', testMatch: ['<rootDir>/test/pack/**/*.test.ts'] },
  ],
};
