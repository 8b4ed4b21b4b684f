// Type-checking happens in `npm run typecheck`; jest only transpiles (isolatedModules in tsconfig.json), ~3x faster.
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };
const common = { testEnvironment: 'node', transform, setupFiles: ['<rootDir>/test/setup-env.ts'] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
    { ...common, displayName: 'host', testMatch: ['<rootDir>/test/host/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    // npm pack, a global install and a CDK app of a user's own (no Docker; minutes: npm and tsc).
    { ...common, displayName: 'pack', testMatch: ['<rootDir>/test/pack/**/*.test.ts'] },
  ],
};
