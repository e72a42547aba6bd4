// The layers of heal (README, "Project layout"), as import/no-restricted-paths zones: used by
// eslint.config.mjs and by tests/unit/layers.test.ts, which shows each rule failing when broken.
const product = [
  'common',
  'core',
  'store',
  'warehouse',
  'integrations',
  'lib',
  'activities',
  'workflows',
  'client',
  'worker.ts',
];

/**
 * The layering rules: `target` may not import from `from` (paths from the repository root).
 * Two exceptions, by `except`: the spec store commits versions with git (HEAL_GIT), and `heal chaos`
 * is the CLI's door to the chaos monkey in tools/.
 */
const LAYER_ZONES = [
  {
    target: './common',
    from: [
      './core',
      './store',
      './warehouse',
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
    from: ['./store', './warehouse', './activities', './workflows', './client', './integrations', './worker.ts'],
    message: 'core/ is the logic: it never imports state, Temporal adapters, integrations or the client',
  },
  {
    target: './core/etl',
    from: './core/doctor',
    message: 'the ETL never imports the doctor (the doctor builds on the ETL)',
  },
  {
    target: './store',
    from: ['./activities', './workflows', './client', './worker.ts'],
    message: 'store/ owns state: activities and the CLI use it, never the other way',
  },
  {
    target: './store',
    from: './integrations',
    except: ['./git.ts'],
    message: 'store/ uses git (HEAL_GIT) and no other integration',
  },
  {
    target: './warehouse',
    from: ['./integrations', './activities', './workflows', './client', './worker.ts'],
    message: 'warehouse/ is where loads commit: it builds on core/ and lib/, and is used by activities',
  },
  {
    target: './warehouse',
    from: './store',
    except: ['./layout.ts'],
    message: 'warehouse/ uses the state layout (partition files of the embedded warehouse) and no other part of store/',
  },
  {
    target: './integrations',
    from: ['./activities', './workflows', './client', './worker.ts'],
    message: 'integrations/ are clients of GitHub, Slack and git, used by activities',
  },
  {
    target: './lib',
    from: [
      './core',
      './store',
      './warehouse',
      './integrations',
      './activities',
      './workflows',
      './client',
      './worker.ts',
    ],
    message: 'lib/ is plumbing: it imports nothing of heal but common/',
  },
  {
    target: './activities',
    from: ['./workflows', './client', './worker.ts'],
    message: 'activities do not import workflows or the client',
  },
  {
    target: './workflows',
    from: ['./core', './store', './warehouse', './integrations', './lib', './client', './worker.ts'],
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
    // `heal chaos` is the CLI's one door into tools/: users drill their own pipelines with it.
    ...(dir === 'client' ? { except: ['./chaos.ts'] } : {}),
    message: 'tools/ is not the product: nothing in the product imports it',
  })),
  ...product.map((dir) => ({ target: `./${dir}`, from: './tests', message: 'nothing in the product imports tests/' })),
];

module.exports = { LAYER_ZONES, PRODUCT: product };
