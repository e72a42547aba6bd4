/**
 * `npm run llm-eval`'s judging of a model's answers (tools/llm-eval/report.ts): each attempt's fate
 * read from the episode's attempt records, and the table's counts.
 */
import type { AttemptRecord, EpisodeResult, VerificationReport } from '../../common/types';
import type { CaseResult } from '../../tools/gauntlet/cases';
import { attemptFate, evalRow, formatEvalTable } from '../../tools/llm-eval/report';

const report = (passed: boolean): VerificationReport => ({
  passed,
  candidateVersion: 2,
  rowsRead: 10,
  rowsLoaded: passed ? 10 : 3,
  rowsQuarantined: passed ? 0 : 7,
  checks: [],
  summary: passed ? 'all 5 checks passed' : 'quarantine-budget: 70% > 1%',
});
const attempt = (over: Partial<AttemptRecord>): AttemptRecord => ({
  attempt: 1,
  doctor: 'llm',
  patch: null,
  candidateVersion: null,
  report: null,
  error: null,
  ...over,
});
const MAP = [{ op: 'map' as const, column: 'a', from: 'b' }];

test('an attempt’s fate: verified, rejected by the proof, invalid, a noAnswer, or not the model’s', () => {
  expect(attemptFate(attempt({ patch: MAP, candidateVersion: 2, report: report(true) }))).toBe('verified');
  expect(attemptFate(attempt({ patch: MAP, candidateVersion: 2, report: report(false) }))).toBe('rejected');
  expect(attemptFate(attempt({ patch: MAP, candidateVersion: 2, error: 'source gone' }))).toBe('rejected');
  expect(attemptFate(attempt({ error: 'the answer was cut off at the token limit' }))).toBe('invalid');
  expect(attemptFate(attempt({ patch: MAP, error: 'derive a: expression rejected' }))).toBe('invalid');
  expect(attemptFate(attempt({ doctor: 'none', error: 'no confident fix: rules: x; llm: the data lost it' }))).toBe(
    'no-answer',
  );
  expect(attemptFate(attempt({ doctor: 'none', error: 'no confident fix: rules: x' }))).toBeNull();
  expect(attemptFate(attempt({ doctor: 'rules', patch: MAP, report: report(true) }))).toBeNull();
});

test('rows and the table: one line per mode, WRONG counted, medians over the cases the model was asked', () => {
  const result = (over: Partial<CaseResult>): CaseResult => ({
    dataset: 'd',
    kind: 'rename-one',
    clean: 'c.csv',
    drifted: 'x.csv',
    expect: 'healed',
    change: '',
    verdict: 'healed-correct',
    outcome: 'healed',
    detail: '',
    seconds: 10,
    doctor: 'llm',
    ...over,
  });
  const episode = (attempts: AttemptRecord[]) => ({ attempts }) as EpisodeResult;
  const usage = { promptTokens: 1000, completionTokens: 50, model: 'm' };
  const rows = [
    evalRow(
      'llm-only',
      result({}),
      episode([attempt({ patch: MAP, candidateVersion: 2, report: report(true), usage })]),
    ),
    evalRow(
      'llm-only',
      result({ verdict: 'missed', outcome: 'refused', doctor: null, seconds: 30 }),
      episode([attempt({ error: 'cut off' }), attempt({ doctor: 'none', error: 'no confident fix: llm: no' })]),
    ),
    evalRow('fallback', result({ doctor: 'rules', seconds: 2 }), episode([attempt({ doctor: 'rules' })])),
    evalRow('fallback', result({ verdict: 'WRONG', outcome: 'healed' }), null),
  ];
  expect(rows[0]).toMatchObject({ answers: 'verified', tokens: 1050, result: 'healed' });
  expect(rows[1]).toMatchObject({ answers: 'invalid, no-answer', result: 'refused (missed)' });
  expect(rows[2]).toMatchObject({ answers: 'not asked' });
  const t = formatEvalTable(rows);
  const lines = t.table.split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[2]).toBe('| llm-only | 2 | 2 | 1 | 1 | 0 | 1 | 1 | 1 | 1 | 0 | 10 | 0 |'); // nearest-rank medians of [10, 30] s and [0, 1050] tokens
  expect(lines[3]).toBe('| fallback | 2 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 1 | – | – |');
  expect(t.summary).toBe('4 case runs, 1 WRONG');
});
