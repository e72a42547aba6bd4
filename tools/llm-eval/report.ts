/**
 * The LLM evaluation's rows and table: per case, what the model's answers were and how the case
 * ended. Pure functions (tested in tests/unit/llm-eval-report.test.ts).
 */
import type { AttemptRecord, EpisodeResult } from '../../common/types';
import { median } from '../bench/stats';
import type { CaseResult } from '../gauntlet/cases';

/** How one model answer fared. */
export type AnswerFate = 'verified' | 'rejected' | 'invalid' | 'no-answer';

export interface EvalRow {
  mode: string;
  case: string;
  expect: string;
  /** healed, refused, quarantined, succeeded (each correct or missed), or WRONG. */
  result: string;
  verdict: string;
  /** The model's answers, in order: verified, rejected (failed the proof), invalid, no-answer. */
  fates: AnswerFate[];
  /** e.g. "verified" or "invalid, rejected"; "not asked" when the model never answered. */
  answers: string;
  doctor: string | null;
  seconds: number;
  tokens: number;
  detail: string;
  /** Why each failed attempt failed (clipped). */
  errors: string[];
}

/**
 * The fate of one attempt's model answer, or null when the model did not answer in it. A model's
 * noAnswer ends the diagnosis without a doctor of record: its reason is in the error ("llm: …").
 */
export function attemptFate(a: AttemptRecord): AnswerFate | null {
  if (a.doctor === 'llm') {
    if (a.report) return a.report.passed ? 'verified' : 'rejected';
    if (a.candidateVersion !== null) return 'rejected'; // its proof could not finish
    return 'invalid'; // not parseable, unknown columns, or a patch that does not validate
  }
  if (a.doctor === 'none' && /\bllm: /.test(a.error ?? '')) return 'no-answer';
  return null;
}

export function evalRow(mode: string, r: CaseResult, episode: EpisodeResult | null): EvalRow {
  const attempts = episode?.attempts ?? [];
  const fates = attempts.map(attemptFate).filter((f): f is AnswerFate => f !== null);
  const tokens = attempts.reduce((n, a) => n + (a.usage ? a.usage.promptTokens + a.usage.completionTokens : 0), 0);
  const result = r.verdict === 'WRONG' ? 'WRONG' : r.verdict === 'missed' ? `${r.outcome} (missed)` : r.outcome;
  return {
    mode,
    case: `${r.dataset} × ${r.kind}`,
    expect: r.expect,
    result,
    verdict: r.verdict,
    fates,
    answers: fates.length ? fates.join(', ') : 'not asked',
    doctor: r.doctor ?? null,
    seconds: Math.round(r.seconds * 10) / 10,
    tokens,
    detail: r.detail,
    errors: attempts.flatMap((a) => (a.error ? [a.error.slice(0, 400)] : [])),
  };
}

const figure = (v: number): string => (Number.isNaN(v) ? '–' : String(Math.round(v * 10) / 10));
const count = (rows: readonly EvalRow[], p: (r: EvalRow) => boolean) => rows.filter(p).length;

/** A Markdown table, one line per mode, and a one-line summary. */
export function formatEvalTable(rows: readonly EvalRow[]): { table: string; summary: string } {
  const modes = [...new Set(rows.map((r) => r.mode))];
  const head =
    '| mode | cases | model asked | valid patches | verified | rejected | invalid answers | no answer | healed by the model | refused | WRONG | s per episode (median) | tokens per case asked (median) |';
  const lines = [head, `|${'---|'.repeat(13)}`];
  for (const mode of modes) {
    const m = rows.filter((r) => r.mode === mode);
    const asked = m.filter((r) => r.fates.length > 0);
    const fates = m.flatMap((r) => r.fates);
    const n = (f: AnswerFate) => fates.filter((x) => x === f).length;
    const healedByModel = count(m, (r) => r.doctor === 'llm' && r.verdict.endsWith('correct'));
    lines.push(
      `| ${mode} | ${m.length} | ${asked.length} | ${n('verified') + n('rejected')} | ${n('verified')} | ${n('rejected')} | ${n('invalid')} | ${n('no-answer')} | ${healedByModel} | ${count(m, (r) => r.result.startsWith('refused'))} | ${count(m, (r) => r.result === 'WRONG')} | ${figure(median(asked.map((r) => r.seconds)))} | ${figure(median(asked.map((r) => r.tokens)))} |`,
    );
  }
  const wrong = count(rows, (r) => r.result === 'WRONG');
  return { table: lines.join('\n'), summary: `${rows.length} case runs, ${wrong} WRONG` };
}
