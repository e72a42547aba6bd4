/**
 * One error table: every failure type the code creates (an ApplicationFailure's `type`, a domain
 * error's, a run result's error type) is in it, and the retry lists are derived from it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EPISODE_FATAL_ERROR_TYPES, ERRORS, isErrorType, NON_RETRYABLE_ERROR_TYPES } from '../../common/errors';
import { ACTIVITY_PROFILES } from '../../common/policies';

const ROOT = path.resolve(__dirname, '../..');
// Below the CLI: what crosses an activity or workflow boundary (the CLI's own input errors are exit codes).
const PRODUCT = ['common', 'core', 'store', 'integrations', 'lib', 'activities', 'workflows'];

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

const text = PRODUCT.flatMap((d) => sources(path.join(ROOT, d)))
  .filter((f) => !f.endsWith('search-attributes.ts')) // search attribute value types, not failures
  .map((f) => [path.relative(ROOT, f), fs.readFileSync(f, 'utf8')] as const);

test('every failure type written in the product is in the table', () => {
  const found = new Map<string, string>();
  for (const [file, src] of text) {
    // `type: 'X'` (ApplicationFailure.create, run results), `type = 'X' as const` (domain errors), `= 'X' satisfies ErrorType`.
    for (const m of src.matchAll(/\btype(?::\s*ErrorType)?\s*[:=]\s*'([A-Z][A-Za-z]+)'/g))
      found.set(m[1] as string, file);
    for (const m of src.matchAll(/'([A-Z][A-Za-z]+)' satisfies ErrorType/g)) found.set(m[1] as string, file);
    for (const m of src.matchAll(/\? '([A-Z][A-Za-z]+)' : '([A-Z][A-Za-z]+)'/g)) {
      if (/type/.test(src.slice(Math.max(0, (m.index ?? 0) - 40), m.index)))
        for (const t of [m[1], m[2]]) found.set(t as string, file);
    }
  }
  // 'Error' is how a failure that is not heal's own is read (workflows/failures.ts), never thrown.
  const missing = [...found].filter(([t]) => t !== 'Error' && !isErrorType(t)).map(([t, f]) => `${t} (${f})`);
  expect(missing).toEqual([]);
  // The scan does find them (a scan that finds nothing would pass anything).
  expect([...found.keys()]).toEqual(
    expect.arrayContaining(['PipelineFailed', 'PartialLoad', 'LlmUnavailable', 'DecisionRejected']),
  );
});

test('the retry lists are derived from the table', () => {
  for (const [type, kind] of Object.entries(ERRORS)) {
    expect([type, NON_RETRYABLE_ERROR_TYPES.includes(type as never)]).toEqual([type, !kind.retryable]);
    expect([type, EPISODE_FATAL_ERROR_TYPES.includes(type as never)]).toEqual([type, kind.endsEpisode]);
  }
  expect(ACTIVITY_PROFILES.etl.retry?.nonRetryableErrorTypes).toEqual(NON_RETRYABLE_ERROR_TYPES);
});
