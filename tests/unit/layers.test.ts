/**
 * The layering rules fail the lint when broken: each case lints one import as if it were written in
 * a file of the repository, with the zones the project's lint uses (eslint.layers.cjs).
 */
import * as path from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
// eslint-plugin-import ships no types; only its rules are used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const importPlugin = require('eslint-plugin-import') as ESLint.Plugin;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { LAYER_ZONES } = require('../../eslint.layers.cjs') as { LAYER_ZONES: unknown[] };

const ROOT = path.resolve(__dirname, '../..');

const eslint = new ESLint({
  cwd: ROOT,
  overrideConfigFile: true,
  overrideConfig: [
    {
      files: ['**/*.ts'],
      languageOptions: { parser: tseslint.parser as never },
      plugins: { import: importPlugin },
      settings: { 'import/resolver': { node: { extensions: ['.ts', '.js'] } } },
      rules: { 'import/no-restricted-paths': ['error', { zones: LAYER_ZONES }] },
    },
  ],
});

/** The layer messages for one import written in `file`. */
async function violations(file: string, spec: string): Promise<string[]> {
  const [result] = await eslint.lintText(`import { x } from '${spec}';\nexport const y = x;\n`, {
    filePath: path.join(ROOT, file),
  });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'import/no-restricted-paths').map((m) => m.message);
}

test.each([
  ['core/etl/new.ts', '../doctor/rules', /the ETL never imports the doctor/],
  ['core/spec/new.ts', '../../activities/healing', /core\/ is the logic/],
  ['core/etl/new.ts', '../../store/spec-store', /core\/ is the logic/],
  ['client/commands/new.ts', '../../activities/healing', /the CLI does not import activity internals/],
  ['workflows/new.ts', '../core/etl/load', /workflows are deterministic/],
  ['common/new.ts', '../lib/duckdb', /common\/ is the deterministic base/],
  ['store/new.ts', '../integrations/github', /store\/ uses git \(HEAL_GIT\) and no other integration/],
  ['store/new.ts', '../activities/healing', /store\/ owns state/],
  ['lib/new.ts', '../store/layout', /lib\/ is plumbing/],
  ['activities/new.ts', '../tools/chaos', /tools\/ is not the product/],
  ['client/commands/new.ts', '../../tools/demo', /tools\/ is not the product/],
  ['core/etl/new.ts', '../../tests/helpers/fixtures', /nothing in the product imports tests/],
])('%s importing %s breaks the layers', async (file, spec, message) => {
  const found = await violations(file, spec);
  expect(found).toHaveLength(1);
  expect(found[0]).toMatch(message);
});

test.each([
  ['core/doctor/new.ts', '../etl/load'],
  ['activities/new.ts', '../core/etl/load'],
  ['client/commands/new.ts', '../../store/spec-store'],
  ['client/commands/new.ts', '../../tools/chaos'],
  ['store/new.ts', '../integrations/git'],
  ['tools/new.ts', '../tests/helpers/fixtures'],
  ['workflows/new.ts', '../common/types'],
])('%s may import %s', async (file, spec) => {
  expect(await violations(file, spec)).toEqual([]);
});
