/**
 * The LLM doctor against a real local model, nothing scripted: SmolLM2-135M (fetched by
 * `setup.sh --llm=smollm2-135m`, which `npm test` runs) served by heal's local server in its own
 * process, as a worker with HEAL_LOCAL_MODEL runs it. A small model's answer may be useless; what
 * must hold is the contract around it: the prompt measured with the model's tokenizer fits the
 * context, the answer follows the JSON schema (the grammar), and the doctor turns it into a
 * diagnosis or a one-line invalid-answer error — never a transport failure or unparseable text.
 */
import * as path from 'node:path';
import { createLlmDoctor, LLM_DOCTOR_DEFAULTS } from '../../core/doctor/llm';
import { buildMessages, doctorAnswerResponseFormat } from '../../core/doctor/prompt';
import { filePatchOpSchema } from '../../common/patch';
import type { DiagnoseInput, SourceProbe } from '../../core/doctor/types';
import { DoctorAnswerInvalidError } from '../../common/errors';
import { startLocalModelProcess, type LocalModelProcess } from '../../integrations/local-llm/process';
import { realDiagnoseInput } from '../helpers/diagnose-input';

const ROOT = path.resolve(__dirname, '..', '..');
const CASES = path.join(ROOT, 'tests', 'fixtures', 'drift-cases', 'iowa-camel-rename');
const CONTEXT = 2048;

let local: LocalModelProcess;
let input: DiagnoseInput;
beforeAll(async () => {
  local = await startLocalModelProcess({ model: 'smollm2-135m', projectRoot: ROOT, contextSize: CONTEXT });
  const real = await realDiagnoseInput('iowa', path.join(CASES, 'clean.csv'), path.join(CASES, 'drifted.csv'));
  input = { ...real, specVersion: 1, previous: [] };
}, 120_000);
afterAll(async () => {
  await local?.stop();
});

const probe: SourceProbe = {
  summarize: () => Promise.resolve({ error: 'not asked in this test' }),
  tryColumn: () => Promise.reject(new Error('not asked in this test')),
};

test('the server measures prompts with the model’s tokenizer and refuses one over the context', async () => {
  const base = local.url.replace(/\/v1$/, '');
  const tokenize = async (content: string) =>
    (
      (await (await fetch(`${base}/tokenize`, { method: 'POST', body: JSON.stringify({ content }) })).json()) as {
        tokens: number[];
      }
    ).tokens.length;
  expect(await tokenize('hello world')).toBeGreaterThan(1);
  const messages = buildMessages(input); // unclipped: the default data budget is for large contexts
  const res = await fetch(`${local.url}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ model: local.name, messages: [...messages, ...messages, ...messages] }),
  });
  expect(res.status).toBe(400);
  expect(await res.json()).toMatchObject({ error: { code: 'context_length_exceeded' } });
});

test('a schema-constrained answer is JSON of the answer’s shape, and ends before the token limit', async () => {
  const res = await fetch(`${local.url}/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({
      model: local.name,
      temperature: 0,
      max_tokens: 256,
      messages: [{ role: 'user', content: 'The column "netGeneration" was "net_generation". Answer with the patch.' }],
      response_format: doctorAnswerResponseFormat(),
    }),
  });
  const body = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
  const choice = body.choices[0];
  expect(choice?.finish_reason).toBe('stop');
  // The grammar guarantees the shape; the doctor's own checks (ranges, patch xor noAnswer) come after.
  const answer = JSON.parse(choice?.message.content ?? '') as { patch: { op: string }[] | null };
  expect(Object.keys(answer).sort()).toEqual(['confidence', 'noAnswer', 'patch', 'rationale']);
  const ops = filePatchOpSchema.options.map((o) => (o.shape.op as { value: string }).value);
  for (const op of answer.patch ?? []) expect(ops).toContain(op.op);
});

test('one diagnosis through the real model: a diagnosis or an invalid answer, within the context', async () => {
  const doctor = createLlmDoctor({
    baseUrl: local.url,
    model: local.name,
    contextTokens: CONTEXT,
    timeoutMs: 120_000,
  });
  const outcome = await doctor.diagnose(input, probe).catch((err: unknown) => err as Error);
  if (outcome instanceof Error) {
    expect(outcome).toBeInstanceOf(DoctorAnswerInvalidError);
    expect(outcome.message).not.toMatch(/not valid JSON/);
  } else if (outcome.kind === 'patch') {
    expect(outcome.usage?.promptTokens).toBeLessThanOrEqual(CONTEXT - LLM_DOCTOR_DEFAULTS.answerTokens);
  } else {
    expect(outcome.reason.length).toBeGreaterThan(0);
  }
}, 180_000);
