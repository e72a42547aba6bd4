/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testTimeout: 60000,
  // The slow drills (`*.slow.test.ts` under tests/drills) run with `npm run drills` (HEAL_DRILLS=all);
  // `npm test` runs the fast ones.
  testPathIgnorePatterns:
    process.env.HEAL_DRILLS === 'all' ? ['/node_modules/'] : ['/node_modules/', '\\.slow\\.test\\.ts$'],
  // Type checking is `tsc --noEmit` in `npm test`; ts-jest only transpiles (tsconfig isolatedModules).
  transform: { '^.+\\.tsx?$': ['ts-jest', {}] },
};
