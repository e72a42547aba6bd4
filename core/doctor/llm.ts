/**
 * The LLM doctor: asks a model behind any OpenAI-compatible chat-completions endpoint (OpenAI,
 * OpenRouter, Ollama, …) for a patch, with temperature 0 and a strict JSON-schema answer, and
 * validates the answer before anyone sees it. Model output is data: it is parsed with zod, checked
 * against the spec and the real source columns, and applied with `applyPatch` — never executed.
 *
 * Failure handling (Temporal does the retrying; the client never retries by itself):
 * - 408/409/429/5xx, timeouts and connection errors → {@link LlmUnavailableError}, a plain retryable
 *   Error: the `doctor` activity profile retries it with backoff. A 429's Retry-After is in the message.
 * - other 4xx (bad key, unknown model, unsupported request) → `LlmRequestRejectedError` (type
 *   {@link LLM_REQUEST_REJECTED}, not retryable, ends the episode): retrying the same request cannot help.
 * - a malformed answer (not JSON, truncated, off-schema, unknown column names, a patch that does not
 *   apply, a forbidden expression) → `DoctorAnswerInvalidError`, one line: the attempt fails and
 *   the next attempt gets the error back in `previous`.
 * The API key never appears in an error message: server messages are scrubbed of it.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { DoctorAnswerInvalidError, HealError, LlmRequestRejectedError, type ErrorType } from '../../common/errors';
import { applyPatch, type Patch, type PatchOp } from '../../common/patch';
import type { CsvOptions } from '../../common/spec';
import {
  buildMessages,
  doctorAnswerResponseFormat,
  MIN_DATA_CHARS,
  parseDoctorAnswer,
  PROMPT_DEFAULTS,
  sourceColumnNames,
  type PromptOptions,
} from './prompt';
import type { DiagnoseInput, Diagnosis, Doctor, SourceProbe } from './types';

/** Failure type of a request the endpoint refused for good (401, 403, 404, 400, 422). */
export const LLM_REQUEST_REJECTED = 'LlmRequestRejected' satisfies ErrorType;

/** Options of {@link createLlmDoctor}. Prompt options (samples, clipping, masking) are included. */
export interface LlmDoctorOptions extends PromptOptions {
  /** Base URL of an OpenAI-compatible API, e.g. "http://localhost:11434/v1" for Ollama. @default OpenAI's ("https://api.openai.com/v1") */
  baseUrl?: string | undefined;
  /** API key, sent as a bearer token; never logged nor put in an error. @default "none" (for endpoints without keys, e.g. Ollama) */
  apiKey?: string | undefined;
  /** Model name, e.g. "gpt-4o-mini", "llama3.1". */
  model: string;
  /** Time allowed for one request, connection to last byte. @default 60000 */
  timeoutMs?: number;
  /** Sampling temperature. @default 0 */
  temperature?: number;
  /** Upper bound of answer tokens (`max_tokens`). @default not sent (the endpoint's own); with `contextTokens`, `answerTokens` */
  maxTokens?: number;
  /**
   * The model's context window, in tokens. When set, the prompt is measured (with the endpoint's
   * `/tokenize`, as llama.cpp's server and heal's local server have it; else estimated at 3
   * characters a token) and its data block shrunk until the prompt leaves `answerTokens` free.
   * @default unset (only `maxDataChars` bounds the prompt)
   */
  contextTokens?: number | undefined;
  /** Tokens kept free for the answer under `contextTokens` (and its `max_tokens`). @default 768 */
  answerTokens?: number;
  /** Counts a text's tokens (tests, or a tokenizer at hand). @default the endpoint's `/tokenize`, else an estimate */
  countTokens?: (text: string) => Promise<number>;
  /**
   * `json_schema`: strict structured output with the answer's JSON schema. `json_object`: JSON mode,
   * for endpoints that have no structured outputs (the schema is still enforced by zod).
   * @default "json_schema"
   */
  responseFormat?: 'json_schema' | 'json_object';
  /** A ready client (tests); used as is, except that requests pass `maxRetries: 0` and the timeout. @default a new `OpenAI` client with `maxRetries: 0` */
  client?: OpenAI;
  /** Aborts a request in flight (the activity's cancellation signal, read when a request starts). @default none */
  signal?: () => AbortSignal | undefined;
}

export const LLM_DOCTOR_DEFAULTS = Object.freeze({
  timeoutMs: 60_000,
  temperature: 0,
  responseFormat: 'json_schema' as const,
  answerTokens: 768,
});

/** Characters per token assumed when the endpoint has no tokenizer: few, so the estimate errs on the safe side. */
const CHARS_PER_TOKEN_ESTIMATE = 3;

/**
 * A token counter backed by the endpoint's `/tokenize` (llama.cpp's route, at the server's root),
 * falling back for good to an estimate when the endpoint has none.
 */
function endpointTokenCounter(baseUrl: string | undefined, timeoutMs: number): (text: string) => Promise<number> {
  const estimate = (text: string) => Math.ceil(text.length / CHARS_PER_TOKEN_ESTIMATE);
  if (!baseUrl) return async (text) => estimate(text);
  const url = `${baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '')}/tokenize`;
  let usable = true;
  return async (text) => {
    if (!usable) return estimate(text);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ content: text }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const body = (await res.json()) as { tokens?: unknown };
      if (res.ok && Array.isArray(body.tokens)) return body.tokens.length;
    } catch {
      // no tokenizer there: estimate
    }
    usable = false;
    return estimate(text);
  };
}

/** Tokens a chat template adds around each message (role markers), counted on top of the contents. */
const TOKENS_PER_MESSAGE = 8;

/**
 * The messages of one diagnosis, within `contextTokens` when set: the data block's character budget
 * is cut in proportion to the overshoot until the measured prompt leaves `answerTokens` free (the
 * prompt builder drops samples, then profile details, then columns, saying what it left out).
 */
async function fittedMessages(
  input: DiagnoseInput,
  opts: LlmDoctorOptions,
  count: (text: string) => Promise<number>,
): Promise<{ messages: ReturnType<typeof buildMessages>; promptTokens?: number }> {
  let messages = buildMessages(input, opts);
  if (!opts.contextTokens) return { messages };
  const room = opts.contextTokens - (opts.answerTokens ?? LLM_DOCTOR_DEFAULTS.answerTokens);
  let maxDataChars = opts.maxDataChars ?? PROMPT_DEFAULTS.maxDataChars;
  let tokens = 0;
  for (let i = 0; i < 8; i++) {
    tokens = (await count(messages.map((m) => m.content).join('\n'))) + TOKENS_PER_MESSAGE * messages.length;
    const data = messages[1]?.content.length ?? 0;
    if (tokens <= room || maxDataChars <= MIN_DATA_CHARS) break;
    maxDataChars = Math.max(MIN_DATA_CHARS, Math.floor(Math.min(maxDataChars, data) * (room / tokens) * 0.9));
    messages = buildMessages(input, { ...opts, maxDataChars });
  }
  return { messages, promptTokens: tokens };
}

/** A transient failure of the model endpoint (429, 5xx, timeout, connection): retry later. */
export class LlmUnavailableError extends HealError {
  readonly type = 'LlmUnavailable' as const;
  /** HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** The server's Retry-After, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

// ---------------------------------------------------------------------------------------------
// secrets and one-line messages

function scrubber(apiKey: string | undefined): (text: string) => string {
  return (text) => {
    let out = text;
    if (apiKey && apiKey.length >= 4) out = out.split(apiKey).join('***');
    // Bearer tokens and OpenAI-style keys quoted back by a server, masked or not.
    out = out.replace(/Bearer\s+\S+/gi, 'Bearer ***').replace(/\bsk-[A-Za-z0-9_*.-]{4,}/g, 'sk-***');
    return out;
  };
}

function line(text: string, max = 300): string {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (!ra) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(ra)) return Math.round(Number(ra) * 1000);
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** The server's own error text: `error.message` of an OpenAI-style body, else the SDK's message. */
function serverMessage(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  if (body && typeof body.message === 'string') return body.message;
  return err.message;
}

/** Turn a failed request into the error the activity throws. */
function requestError(
  err: unknown,
  where: string,
  scrub: (t: string) => string,
  timing: { elapsedMs: number; timeoutMs: number },
): Error {
  if (err instanceof APIUserAbortError) return err; // cancelled by the activity: let it through
  // The SDK recognises its own abort as a timeout only when the AbortError comes from the same realm
  // (not under Jest's VM, say): a connection error at the deadline is the timeout too.
  const timedOut =
    err instanceof APIConnectionTimeoutError ||
    (err instanceof APIConnectionError && timing.elapsedMs >= timing.timeoutMs - 5);
  if (timedOut) {
    return new LlmUnavailableError(
      scrub(`${where}: the model did not answer within ${timing.timeoutMs} ms (timeout); will retry`),
    );
  }
  if (err instanceof APIConnectionError) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return new LlmUnavailableError(
      scrub(line(`${where}: cannot reach the model endpoint (connection error${cause}); will retry`)),
    );
  }
  if (err instanceof APIError) {
    const status = err.status;
    const text = line(scrub(serverMessage(err)), 200);
    if (status === undefined || status === 408 || status === 409 || status === 429 || status >= 500) {
      const wait = retryAfterMs(err.headers);
      const after =
        status === 429 && err.headers?.get('retry-after')
          ? `, Retry-After: ${line(err.headers.get('retry-after') ?? '', 40)}`
          : '';
      const what = status === 429 ? 'rate-limited the request' : 'failed';
      return new LlmUnavailableError(
        `${where}: the model endpoint ${what} (HTTP ${status ?? '?'}${after}): ${text}; will retry`,
        status,
        wait,
      );
    }
    return new LlmRequestRejectedError(
      `${where}: the model endpoint rejected the request (HTTP ${status}): ${text}; check OPENAI_BASE_URL, OPENAI_API_KEY and HEAL_MODEL`,
    );
  }
  // Anything else (an unreadable response body, a proxy's HTML page): transient as far as we can tell.
  const msg = err instanceof Error ? err.message : String(err);
  return new LlmUnavailableError(
    scrub(line(`${where}: unreadable response from the model endpoint (${msg}); will retry`)),
  );
}

// ---------------------------------------------------------------------------------------------
// validating the answer against the spec and the source

/** Words that never belong in a column expression; the DuckDB-parser allow-list check runs later anyway. */
const FORBIDDEN_WORDS =
  /\b(select|from|with|union|intersect|except|insert|update|delete|merge|create|drop|alter|attach|detach|copy|export|import|install|load|pragma|set|reset|call|execute|prepare|begin|commit|rollback|checkpoint|vacuum|use|describe|show|summarize|pivot|unpivot|table|values|returning)\b/i;
/** Function names that read files or the network, run SQL, or look at the system. */
const FORBIDDEN_FUNCTIONS =
  /^(read_\w*|sniff_\w*|parquet_\w*|duckdb_\w*|pragma_\w*|iceberg_\w*|delta_\w*|sqlite_\w*|postgres_\w*|mysql_\w*|json_execute_serialized_sql|query|query_table|glob|getenv|getvariable|current_setting|which_secret|load_aws_credentials|system|shell|http_\w*|url\w*|csv_\w*|to_file|write_\w*|range|generate_series|unnest)$/i;

/**
 * A conservative, lexical screen of a `derive` expression (defence in depth: the real check parses
 * it with DuckDB and walks an allow-list before any use). Returns why it is refused, or null.
 * String literals are ignored; quoted identifiers must name source columns.
 */
export function screenExpression(expr: string, sourceColumns: ReadonlySet<string>): string | null {
  let rest = '';
  const quoted: string[] = [];
  for (let i = 0; i < expr.length;) {
    const ch = expr[i];
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      let text = '';
      for (; j < expr.length; j++) {
        if (expr[j] === ch) {
          if (expr[j + 1] === ch) {
            text += ch;
            j++;
            continue;
          }
          break;
        }
        text += expr[j];
      }
      if (j >= expr.length) return 'an unterminated quote';
      if (ch === '"') quoted.push(text);
      rest += ch === '"' ? ' __col__ ' : " '' ";
      i = j + 1;
      continue;
    }
    rest += ch;
    i++;
  }
  if (/;/.test(rest)) return 'a statement separator ";"';
  if (/--|\/\*/.test(rest)) return 'a SQL comment';
  if (/\$/.test(rest)) return 'a parameter or dollar-quoted string';
  const word = FORBIDDEN_WORDS.exec(rest);
  if (word) return `the keyword ${word[1]?.toUpperCase()} (no statements or subqueries)`;
  for (const m of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*\(/g)) {
    const fn = m[1] ?? '';
    if (FORBIDDEN_FUNCTIONS.test(fn)) return `the function ${fn}() (no file, network, table or SQL-running functions)`;
  }
  for (const q of quoted) if (!sourceColumns.has(q)) return `the column "${q}", which the source does not have`;
  return null;
}

function readerOf(patch: Patch): Partial<CsvOptions> | null {
  const ops = patch.filter((o): o is Extract<PatchOp, { op: 'reader' }> => o.op === 'reader');
  if (!ops.length) return null;
  const out: Partial<CsvOptions> = {};
  for (const { op: _op, ...rest } of ops) Object.assign(out, rest);
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

interface Checked {
  patch: Patch;
  notes: string[];
}

/**
 * Check a parsed patch against the spec and the real source; complete it with the `shape` op it
 * needs when the model left it out. Throws `DoctorAnswerInvalidError` (one line) when unusable.
 */
/**
 * Mend the slips small models make, where the facts leave one reading (learned from
 * `npm run llm-eval`): a `map` with its column and source swapped (for a contract column whose
 * source is gone); a `reader` op that changes
 * nothing; a `shape` that is not the drifted file's columns (when no reader op changes them). Each
 * mend is said in the rationale; the mended patch is verified like any other.
 */
function mendPatch(input: DiagnoseInput, proposed: Patch): { patch: Patch; notes: string[] } {
  const { spec } = input;
  const contract = new Set(spec.contract.columns.map((c) => c.name));
  const found = sourceColumnNames(input);
  const source = new Set(found);
  const current = spec.source.format === 'csv' ? (spec.source.csv as unknown as Record<string, unknown>) : {};
  const notes: string[] = [];
  let patch = proposed.flatMap((op): PatchOp[] => {
    // Swapped only where that reading is the one the facts leave: the contract column's source is gone.
    const lost = (column: string) => !source.has(spec.mapping[column]?.from ?? column);
    if (
      op.op === 'map' &&
      !contract.has(op.column) &&
      contract.has(op.from) &&
      source.has(op.column) &&
      lost(op.from)
    ) {
      notes.push(`mended: map ${op.from} ← ${op.column} (the answer had column and from swapped)`);
      return [{ ...op, column: op.from, from: op.column }];
    }
    if (op.op === 'reader') {
      const { op: _op, ...fields } = op;
      if (Object.entries(fields).every(([k, v]) => v === undefined || current[k] === v)) {
        notes.push('mended: dropped a reader op that changes nothing');
        return [];
      }
    }
    return [op];
  });
  if (!patch.some((o) => o.op === 'reader')) {
    patch = patch.map((op) => {
      if (op.op !== 'shape' || sameList(op.columns, found)) return op;
      notes.push(`mended: shape set to the drifted file's columns ${found.join(', ')}`);
      return { op: 'shape', columns: found };
    });
  }
  return { patch, notes };
}

async function checkPatch(input: DiagnoseInput, probe: SourceProbe, answered: Patch): Promise<Checked> {
  const { spec } = input;
  const contract = new Set(spec.contract.columns.map((c) => c.name));
  const mended = mendPatch(input, answered);
  const proposed = mended.patch;
  const reader = readerOf(proposed);
  let found: string[];
  if (reader) {
    // New reader options change what the columns are: ask the real file.
    const summary = await probe.summarize(reader);
    if ('error' in summary) {
      throw new DoctorAnswerInvalidError(
        line(`the proposed reader options ${JSON.stringify(reader)} cannot read the source: ${summary.error}`, 400),
      );
    }
    found = summary.columns.map((c) => c.name);
  } else {
    found = sourceColumnNames(input);
  }
  const source = new Set(found);
  const problems: string[] = [];
  const unknownSource = (name: string, where: string) => {
    if (!source.has(name))
      problems.push(
        `${where}: source column "${name}" does not exist (the source has ${found
          .slice(0, 30)
          .map((c) => JSON.stringify(c))
          .join(', ')}${found.length > 30 ? ', …' : ''})`,
      );
  };
  proposed.forEach((op, i) => {
    const where = `patch[${i}] (${op.op})`;
    if ('column' in op && !contract.has(op.column)) {
      problems.push(
        `${where}: "${op.column}" is not a contract column (the contract has ${[...contract].map((c) => JSON.stringify(c)).join(', ')})`,
      );
    }
    switch (op.op) {
      case 'map':
        unknownSource(op.from, where);
        break;
      case 'ignore':
        unknownSource(op.sourceColumn, where);
        break;
      case 'shape':
        for (const c of op.columns) unknownSource(c, where);
        break;
      case 'derive': {
        const why = screenExpression(op.expr, source);
        if (why)
          problems.push(`${where}: the expression ${JSON.stringify(line(op.expr, 80))} is not allowed: it uses ${why}`);
        break;
      }
      default:
        break;
    }
  });
  if (problems.length) {
    throw new DoctorAnswerInvalidError(
      line(
        `the patch is not usable: ${problems.slice(0, 4).join('; ')}${problems.length > 4 ? ` (+${problems.length - 4} more)` : ''}`,
        600,
      ),
    );
  }
  const patch = [...proposed];
  const notes: string[] = [...mended.notes];
  if (!reader && !patch.some((o) => o.op === 'shape') && found.length && !sameList(found, spec.source.columns)) {
    patch.unshift({ op: 'shape', columns: found });
    notes.push(`added: expect source columns ${found.join(', ')} (the columns of the drifted file)`);
  }
  const applied = applyPatch(spec, patch);
  if (!applied.ok) {
    throw new DoctorAnswerInvalidError(
      line(`the patch does not apply to the spec: ${applied.issues.slice(0, 5).join('; ')}`, 600),
    );
  }
  return { patch, notes };
}

// ---------------------------------------------------------------------------------------------
// the doctor

/** Turn the model's message into a diagnosis, or a one-line DoctorAnswerInvalidError. */
async function judgeAnswer(
  input: DiagnoseInput,
  probe: SourceProbe,
  choice: OpenAI.Chat.Completions.ChatCompletion.Choice,
  usage: { promptTokens: number; completionTokens: number; model: string },
  scrub: (text: string) => string,
): Promise<Diagnosis> {
  const content = choice.message.content ?? '';
  if (choice.finish_reason === 'length') {
    throw new DoctorAnswerInvalidError(
      line(
        `the answer was cut off at the token limit (finish_reason=length) after ${content.length} characters; give a shorter answer`,
      ),
    );
  }
  if (!content.trim())
    throw new DoctorAnswerInvalidError(
      `the model returned an empty answer (finish_reason=${choice.finish_reason ?? '?'})`,
    );

  const parsed = parseDoctorAnswer(content);
  if (!parsed.ok) throw new DoctorAnswerInvalidError(scrub(parsed.error));
  const answer = parsed.answer;
  if ('noAnswer' in answer) {
    return { kind: 'no-answer', doctor: 'llm', fatal: false, reason: line(scrub(answer.noAnswer)) };
  }
  const checked = await checkPatch(input, probe, answer.patch);
  return {
    kind: 'patch',
    doctor: 'llm',
    patch: checked.patch,
    confidence: answer.confidence,
    rationale: [...answer.rationale.map((r) => line(r, 300)).slice(0, 20), ...checked.notes],
    usage,
  };
}

/** The LLM doctor. Construct once per activity call or share: it holds no state between diagnoses. */
export function createLlmDoctor(opts: LlmDoctorOptions): Doctor {
  const timeoutMs = opts.timeoutMs ?? LLM_DOCTOR_DEFAULTS.timeoutMs;
  const temperature = opts.temperature ?? LLM_DOCTOR_DEFAULTS.temperature;
  const scrub = scrubber(opts.apiKey);
  const client =
    opts.client ??
    new OpenAI({
      apiKey: opts.apiKey ?? 'none',
      ...(opts.baseUrl ? { baseURL: opts.baseUrl } : {}),
      timeout: timeoutMs,
      maxRetries: 0,
    });
  const where = `LLM doctor (${opts.model})`;
  const count = opts.countTokens ?? endpointTokenCounter(opts.baseUrl, timeoutMs);
  const maxTokens =
    opts.maxTokens ?? (opts.contextTokens ? (opts.answerTokens ?? LLM_DOCTOR_DEFAULTS.answerTokens) : undefined);

  async function diagnose(input: DiagnoseInput, probe: SourceProbe): Promise<Diagnosis> {
    const { messages } = await fittedMessages(input, opts, count);
    const signal = opts.signal?.();
    let completion: OpenAI.Chat.Completions.ChatCompletion;
    const started = Date.now();
    try {
      completion = await client.chat.completions.create(
        {
          model: opts.model,
          temperature,
          messages,
          response_format:
            (opts.responseFormat ?? LLM_DOCTOR_DEFAULTS.responseFormat) === 'json_object'
              ? { type: 'json_object' }
              : doctorAnswerResponseFormat(),
          ...(maxTokens !== undefined ? { max_tokens: maxTokens } : {}),
        },
        { timeout: timeoutMs, maxRetries: 0, ...(signal ? { signal } : {}) },
      );
    } catch (err) {
      throw requestError(err, where, scrub, { elapsedMs: Date.now() - started, timeoutMs });
    }

    // A body that is not a chat completion (a proxy's page, text/plain): the endpoint's problem, not the model's.
    if (
      completion === null ||
      typeof completion !== 'object' ||
      !Array.isArray((completion as { choices?: unknown }).choices)
    ) {
      const got = typeof completion === 'string' ? `text ${JSON.stringify(line(completion, 60))}` : typeof completion;
      throw new LlmUnavailableError(
        scrub(`${where}: the endpoint's response is not a chat completion (got ${got}); will retry`),
      );
    }
    const choice = completion.choices[0];
    if (!choice) throw new DoctorAnswerInvalidError('the model returned no answer (no choices)');
    const usage = {
      promptTokens: completion.usage?.prompt_tokens ?? 0,
      completionTokens: completion.usage?.completion_tokens ?? 0,
      model: completion.model || opts.model,
    };
    const refusal = choice.message.refusal;
    if (refusal) {
      return { kind: 'no-answer', doctor: 'llm', fatal: false, reason: line(`the model refused: ${scrub(refusal)}`) };
    }
    try {
      return await judgeAnswer(input, probe, choice, usage, scrub);
    } catch (err) {
      // The tokens were spent all the same: an invalid answer's record carries them (and names its doctor).
      if (err instanceof DoctorAnswerInvalidError)
        throw new DoctorAnswerInvalidError(err.message, { doctor: 'llm', usage });
      throw err;
    }
  }

  return { name: 'llm', diagnose };
}
