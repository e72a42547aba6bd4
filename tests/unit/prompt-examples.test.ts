/**
 * The system prompt shows every patch op with a worked example (small models copy examples): each
 * example must be an op the answer schema accepts, and no op may be left without one.
 */
import { filePatchOpSchema } from '../../common/patch';
import { buildSystemPrompt, doctorAnswerWireSchema, OP_EXAMPLES } from '../../core/doctor/prompt';

test('every example is a valid op, on the wire (nulls for unused fields) and as a patch op', () => {
  for (const [, example] of OP_EXAMPLES) {
    const op = JSON.parse(example) as Record<string, unknown>;
    const wire = doctorAnswerWireSchema.safeParse({ patch: [op], confidence: 1, rationale: [], noAnswer: null });
    expect(wire.error?.issues ?? []).toEqual([]);
    const plain = Object.fromEntries(Object.entries(op).filter(([, v]) => v !== null || op['op'] === 'default'));
    expect(filePatchOpSchema.safeParse(plain).error?.issues ?? []).toEqual([]);
  }
});

test('every op the schema knows has an example in the system prompt', () => {
  const ops = filePatchOpSchema.options.map((o) => (o.shape.op as { value: string }).value);
  const shown = OP_EXAMPLES.map(([, e]) => (JSON.parse(e) as { op: string }).op);
  expect([...shown].sort()).toEqual([...ops].sort());
  const prompt = buildSystemPrompt();
  for (const [, example] of OP_EXAMPLES) expect(prompt).toContain(example);
});
