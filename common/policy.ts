/**
 * Schema evolution policies (`healing.policy`): what a pipeline does, drift class by drift class,
 * when its source changes. A doctor proposes a patch; the policy then decides, op by op, whether
 * the patch applies on its own, waits for a human (like `healing.mode: review`), or is refused.
 * The one owner of the policy values, their defaults and the classification of a patch's ops.
 */
import { z } from 'zod';
import type { PatchOp } from './patch';
import type { PipelineSpec } from './spec';
import type { DriftReport } from './types';

/** Values of each drift class, the first one the default. */
export const POLICY_VALUES = {
  /** A new source column: left out (`ignore`), added to the contract and the table (`evolve`), proposed for approval (`review`), or the load refused (`refuse`). */
  newColumns: ['ignore', 'evolve', 'review', 'refuse'],
  /** A contract column read from a renamed source column: mapped at once (`auto`) or after approval (`review`). */
  renames: ['auto', 'review'],
  /** Values that outgrew the column's type: widened losslessly (`widen`: integer → number, date → timestamp), after approval (`review`), or refused. */
  typeChanges: ['widen', 'review', 'refuse'],
  /** An optional column's source column gone: read as NULL (`default`) or after approval (`review`). */
  droppedColumns: ['default', 'review'],
  /** A column whose values changed meaning (a unit): refused, or its conversion back proposed for approval (`review`). */
  distributionShifts: ['refuse', 'review'],
} as const;

export type PolicyClass = keyof typeof POLICY_VALUES;
export const POLICY_CLASSES = Object.keys(POLICY_VALUES) as PolicyClass[];
export type PolicyValue<C extends PolicyClass = PolicyClass> = (typeof POLICY_VALUES)[C][number];

/** The default of each class: the first of its values. */
export const DEFAULT_POLICY: { readonly [C in PolicyClass]: PolicyValue<C> } = {
  newColumns: POLICY_VALUES.newColumns[0],
  renames: POLICY_VALUES.renames[0],
  typeChanges: POLICY_VALUES.typeChanges[0],
  droppedColumns: POLICY_VALUES.droppedColumns[0],
  distributionShifts: POLICY_VALUES.distributionShifts[0],
};

const classFields = {
  newColumns: z.enum(POLICY_VALUES.newColumns),
  renames: z.enum(POLICY_VALUES.renames),
  typeChanges: z.enum(POLICY_VALUES.typeChanges),
  droppedColumns: z.enum(POLICY_VALUES.droppedColumns),
  distributionShifts: z.enum(POLICY_VALUES.distributionShifts),
};

/** One column's overrides: by contract column name, or by source column name for `newColumns`. */
const columnPolicySchema = z.object(classFields).partial().strict();

/** `healing.policy`: every class has its default (see {@link DEFAULT_POLICY}); `columns` overrides per column. */
export const policySchema = z
  .object({
    newColumns: classFields.newColumns.default(DEFAULT_POLICY.newColumns),
    renames: classFields.renames.default(DEFAULT_POLICY.renames),
    typeChanges: classFields.typeChanges.default(DEFAULT_POLICY.typeChanges),
    droppedColumns: classFields.droppedColumns.default(DEFAULT_POLICY.droppedColumns),
    distributionShifts: classFields.distributionShifts.default(DEFAULT_POLICY.distributionShifts),
    /** Per-column overrides. @default {} */
    columns: z.record(z.string(), columnPolicySchema).default({}),
  })
  .strict();

export type HealingPolicy = z.output<typeof policySchema>;

/** The policy of `cls` for `column` (a contract column, or a source column for `newColumns`). */
export function policyFor<C extends PolicyClass>(policy: HealingPolicy, cls: C, column?: string): PolicyValue<C> {
  const own = column === undefined ? undefined : policy.columns[column]?.[cls];
  return (own ?? policy[cls]) as PolicyValue<C>;
}

/** The lossless widenings a `typeChanges: widen` may make: never a narrowing, never to text. */
export const WIDENINGS: Readonly<Record<string, string>> = { integer: 'number', date: 'timestamp' };

/** What the policy made of one op of a patch. */
export type PolicyOutcome = 'applied' | 'review' | 'refused';

export interface PolicyDecision {
  drift: PolicyClass;
  /** The contract column (or, for a new column, the source column) concerned. */
  column: string;
  policy: string;
  outcome: PolicyOutcome;
  /** One line: what the op does, and why the policy allows, holds or refuses it. */
  detail: string;
}

/** What a patch's ops are judged against: the policy, and each contract column's source column before the patch. */
interface PolicyView {
  policy: HealingPolicy;
  /** Contract column → its source column (undefined: read from a default or an expression). */
  sources: Readonly<Record<string, string | undefined>>;
}

const OUTCOMES: Record<string, PolicyOutcome> = {
  auto: 'applied',
  evolve: 'applied',
  widen: 'applied',
  default: 'applied',
  ignore: 'applied',
  review: 'review',
  refuse: 'refused',
};

function decision(drift: PolicyClass, column: string, policy: string, what: string): PolicyDecision {
  const outcome = OUTCOMES[policy] ?? 'refused';
  const why =
    outcome === 'applied'
      ? `allowed by ${drift}: ${policy}`
      : outcome === 'review'
        ? `waits for approval (${drift}: review)`
        : `refused by ${drift}: ${policy}`;
  return { drift, column, policy, outcome, detail: `${what}: ${why}` };
}

/** The decision for a new column a doctor ignored or added: a mismatch with the policy is refused. */
function newColumnDecision(policy: HealingPolicy, op: Extract<PatchOp, { op: 'ignore' | 'add' }>): PolicyDecision {
  const source = op.op === 'ignore' ? op.sourceColumn : op.from;
  const value = policyFor(policy, 'newColumns', source);
  const what = op.op === 'ignore' ? `ignore new column "${source}"` : `add new column "${source}" as ${op.column}`;
  if (value === 'refuse') return decision('newColumns', source, value, what);
  const fits = op.op === 'ignore' ? value === 'ignore' : value === 'evolve' || value === 'review';
  if (fits) return decision('newColumns', source, value, what);
  return {
    drift: 'newColumns',
    column: source,
    policy: value,
    outcome: 'refused',
    detail: `${what}: the policy says newColumns: ${value}`,
  };
}

/** Classify one (file-level) op; undefined when no policy governs it (a format, a cleaning, a reader option…). */
function classify(view: PolicyView, shifted: ReadonlySet<string>, op: PatchOp): PolicyDecision | undefined {
  const { policy, sources } = view;
  switch (op.op) {
    case 'ignore':
    case 'add':
      return newColumnDecision(policy, op);
    case 'map': {
      const was = sources[op.column];
      if (was === undefined || was === op.from) return undefined;
      return decision(
        'renames',
        op.column,
        policyFor(policy, 'renames', op.column),
        `read ${op.column} from "${op.from}" (was "${was}")`,
      );
    }
    case 'widen':
      return decision(
        'typeChanges',
        op.column,
        policyFor(policy, 'typeChanges', op.column),
        `widen ${op.column} to ${op.type}`,
      );
    case 'default':
      if (sources[op.column] === undefined) return undefined;
      return decision(
        'droppedColumns',
        op.column,
        policyFor(policy, 'droppedColumns', op.column),
        `${op.column}: source column "${sources[op.column]}" is gone, read as ${JSON.stringify(op.value)}`,
      );
    case 'derive':
      if (!shifted.has(op.column)) return undefined;
      return decision(
        'distributionShifts',
        op.column,
        policyFor(policy, 'distributionShifts', op.column),
        `convert ${op.column} back: ${op.expr}`,
      );
    default:
      return undefined;
  }
}

/**
 * Every policy decision a patch needs, in patch order (ops scoped to some files included). Ops no
 * policy governs (formats, cleanings, reader options) are not listed: they follow `healing.mode`.
 */
export function policyDecisions(spec: PipelineSpec, drift: DriftReport, patch: readonly PatchOp[]): PolicyDecision[] {
  const view: PolicyView = {
    policy: spec.healing.policy,
    sources: Object.fromEntries(spec.contract.columns.map((c) => [c.name, spec.mapping[c.name]?.from])),
  };
  const shifted = new Set(
    drift.differences.flatMap((d) => (d.kind === 'distribution-shift' && d.column ? [d.column] : [])),
  );
  const flat = patch.flatMap((op) => (op.op === 'files' ? op.ops : [op]));
  const out: PolicyDecision[] = [];
  for (const op of flat) {
    const d = classify(view, shifted, op);
    if (d && !out.some((x) => x.drift === d.drift && x.column === d.column && x.detail === d.detail)) out.push(d);
  }
  return out;
}

/** The decisions as the episode summary, `heal inspect` and the alert show them: one line each. */
export function describeDecisions(decisions: readonly PolicyDecision[]): string[] {
  return decisions.map((d) => `${d.drift}: ${d.policy} → ${d.outcome} (${d.detail})`);
}
