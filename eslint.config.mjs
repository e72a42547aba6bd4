// Lint rules of the project: typed rules, no floating promises, consistent type imports, no import
// cycles, and no Node built-ins (or non-deterministic APIs) in workflow code.
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'child_process',
  'crypto',
  'http',
  'https',
  'net',
  'dns',
  'stream',
  'worker_threads',
  'process',
  'timers',
  'util',
  'zlib',
];

const product = ['common', 'core', 'store', 'integrations', 'lib', 'activities', 'workflows', 'client', 'worker.ts'];

/**
 * The layering rules: `target` may not import from `from` (paths from the repository root).
 * `except` names the one exception: `heal chaos` is the CLI's door to the chaos monkey in tools/.
 */
const LAYER_ZONES = [
  {
    target: './common',
    from: [
      './core',
      './store',
      './integrations',
      './lib',
      './activities',
      './workflows',
      './client',
      './tools',
      './tests',
      './worker.ts',
    ],
    message: 'common/ is the deterministic base: it imports nothing of heal but common/',
  },
  {
    target: './core',
    from: ['./activities', './workflows', './client', './integrations', './worker.ts'],
    message: 'core/ never imports activities, workflows, integrations or the client',
  },
  {
    target: './core/etl',
    from: './core/doctor',
    message: 'the ETL never imports the doctor (the doctor builds on the ETL)',
  },
  {
    target: './store',
    from: ['./core', './activities', './workflows', './client', './integrations', './worker.ts'],
    message: 'store/ owns state only: it imports common/ and lib/',
  },
  {
    target: './integrations',
    from: ['./activities', './workflows', './client', './worker.ts'],
    message: 'integrations/ are clients of GitHub, Slack and git, used by activities',
  },
  {
    target: './lib',
    from: ['./core', './store', './integrations', './activities', './workflows', './client', './worker.ts'],
    message: 'lib/ is plumbing: it imports nothing of heal but common/',
  },
  {
    target: './activities',
    from: ['./workflows', './client', './worker.ts'],
    message: 'activities do not import workflows or the client',
  },
  {
    target: './workflows',
    from: ['./core', './store', './integrations', './lib', './client', './worker.ts'],
    message: 'workflows are deterministic: common/ and activity types only',
  },
  {
    target: './client',
    from: './activities',
    message: 'the CLI does not import activity internals: use core/, store/ or a workflow',
  },
  ...product.map((dir) => ({
    target: `./${dir}`,
    from: './tools',
    except: [],
    message: 'tools/ is not the product: nothing in the product imports it',
  })),
  ...product.map((dir) => ({ target: `./${dir}`, from: './tests', message: 'nothing in the product imports tests/' })),
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.tools/**',
      '.heal/**',
      'coverage/**',
      'test-artifacts/**',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { import: importPlugin },
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import/no-cycle': ['error', { maxDepth: 10 }],
      // The layers (README, "Project layout"): each zone names a folder and what it may not import.
      'import/no-restricted-paths': ['error', { zones: LAYER_ZONES }],
    },
  },
  {
    files: ['core/**/*.ts', 'store/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@temporalio/*'], message: 'core and store know nothing of Temporal: adapt them in activities/' },
          ],
        },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({ name, message: 'workflow code is deterministic: no Node built-ins' })),
          patterns: [
            {
              group: ['../activities', '../activities/*', '../lib/*', '../client/*'],
              allowTypeImports: true,
              message: 'workflows import activities as types only',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'not in workflows' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'no randomness in workflows' },
        { object: 'Date', property: 'now', message: 'no clock in workflows' },
      ],
    },
  },
);
