/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testTimeout: 60000,
  // Type checking is `tsc --noEmit` in `npm test`; ts-jest only transpiles (tsconfig isolatedModules).
  transform: { '^.+\\.tsx?$': ['ts-jest', {}] },
};
