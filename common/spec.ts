/**
 * The pipeline spec: the pipeline's code, a versioned and reviewable file (YAML or JSON).
 * Validated with zod; {@link parseSpec} returns exact, path-qualified error messages.
 */
import { DEFAULT_APPROVAL_TIMEOUT } from './defaults';
import { z } from 'zod';
import { parseDuration } from './duration';
import { policySchema } from './policy';

export const SPEC_API_VERSION = 'heal/v1';

export const COLUMN_TYPES = ['string', 'integer', 'number', 'boolean', 'date', 'timestamp'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

export const SOURCE_FORMATS = ['csv', 'json', 'parquet'] as const;
export const ENCODINGS = ['utf-8', 'utf-16', 'latin-1'] as const;
export const LOAD_MODES = ['replace', 'append', 'merge'] as const;
export const HEAL_MODES = ['auto', 'review'] as const;
export const PARTIAL_POLICIES = ['refuse', 'load-and-flag'] as const;

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'must be a SQL identifier: letters, digits and _, not starting with a digit');

export const pipelineNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/i,
    'must be letters, digits, - and _ (at most 63), starting with a letter or digit',
  );

const csvOptionsSchema = z
  .object({
    /** Field delimiter. @default "," */
    delimiter: z.string().min(1).max(4).default(','),
    /** The first line holds column names. @default true */
    header: z.boolean().default(true),
    /** Quote character. @default '"' */
    quote: z.string().max(1).default('"'),
    /** Escape character inside quotes. @default '"' */
    escape: z.string().max(1).default('"'),
    /** @default "utf-8" */
    encoding: z.enum(ENCODINGS).default('utf-8'),
    /** Lines to skip before the header. @default 0 */
    skipRows: z.number().int().min(0).default(0),
    /** Values read as NULL. @default [""] */
    nullStrings: z.array(z.string()).default(['']),
  })
  .strict();

const replaceOpSchema = z.object({ from: z.string().min(1), to: z.string() }).strict();

const mappingEntrySchema = z
  .object({
    /** Source column the contract column is read from. */
    from: z.string().min(1).optional(),
    /** Expression over source columns (validated against an allow-list before use); instead of `from`. */
    expr: z.string().min(1).max(500).optional(),
    /** Substrings removed before the cast (e.g. "$", ","). */
    strip: z.array(z.string().min(1)).optional(),
    /** Substring replacements applied in order before the cast (e.g. decimal comma "," -> "."). */
    replace: z.array(replaceOpSchema).optional(),
    /** Parse format overriding the contract's (strptime), for this source. */
    format: z.string().min(1).optional(),
    /** Value used when the source has no such column (optional columns only). */
    default: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
    /** Text values read as true / false for boolean columns. */
    trueValues: z.array(z.string()).optional(),
    falseValues: z.array(z.string()).optional(),
    /**
     * Values (compared trimmed, case-sensitively) read as NULL in this column only, e.g. `[NA, "-"]`:
     * missing values spelled out. Per column, not per file: "NA" stays text where it is a value
     * (Namibia's country code). A required column's NULL still goes to quarantine, or is drift
     * (`null-values`) beyond the budget: never loaded.
     */
    nullValues: z.array(z.string().min(1).max(16)).max(32).optional(),
    /**
     * Values of this column (compared trimmed, case-insensitively) that mark a row as a total,
     * subtotal or footer row, e.g. `[Total, Grand total]`: such rows go to quarantine as summary
     * rows, never into the table, even when every field parses.
     */
    summaryLabels: z.array(z.string().min(1).max(64)).max(32).optional(),
  })
  .strict();

/**
 * How some files of a many-file source are read, when they differ from the others (a healed file
 * of a glob: one file renamed a column, another writes dates its own way). Every entry whose
 * `match` fits a file's name applies to that file, in order; what an entry sets replaces the
 * source's (CSV options key by key, mapping entries column by column, `columns` and `ignore` whole).
 */
const fileOverrideSchema = z
  .object({
    /** A glob on the file's name (`p2.csv`, `export_2024-*.csv`): `*`, `?` and `[...]`. */
    match: z.string().min(1).max(256),
    csv: csvOptionsSchema.partial().optional(),
    columns: z.array(z.string().min(1)).min(1).optional(),
    ignore: z.array(z.string().min(1)).optional(),
    mapping: z.record(z.string(), z.union([z.string().min(1), mappingEntrySchema])).optional(),
  })
  .strict();

const sourceSchema = z
  .object({
    /** A file path or a glob. Relative paths resolve against the spec's base directory. */
    path: z.string().min(1),
    format: z.enum(SOURCE_FORMATS),
    csv: csvOptionsSchema.optional(),
    /** The source's columns as last seen, in order: the shape drift is measured against. */
    columns: z.array(z.string().min(1)).min(1),
    /** Source columns known and deliberately not loaded. @default [] */
    ignore: z.array(z.string().min(1)).default([]),
    /** Files of a glob read their own way (see {@link fileOverrideSchema}). @default [] */
    files: z.array(fileOverrideSchema).max(1000).default([]),
    /**
     * Contract columns the files are split by (a region, a date): each file, or each appended
     * batch, holds its own values or its own range of them, so their category mix and their
     * centre and range are never compared between a file and the whole, nor between a batch and
     * the baseline. A multi-file run also finds such columns itself (values or ranges disjoint
     * across its files). @default []
     */
    partitionKeys: z.array(z.string().min(1)).default([]),
  })
  .strict();

const contractColumnSchema = z
  .object({
    name: identifier,
    type: z.enum(COLUMN_TYPES),
    /** A required column must be present and non-null in every loaded row. @default true */
    required: z.boolean().default(true),
    /** strptime format for `date` and `timestamp` columns, e.g. "%Y-%m-%d". */
    format: z.string().min(1).optional(),
    description: z.string().optional(),
    /** Values are personal data: never sent to a model unmasked. @default false */
    pii: z.boolean().default(false),
  })
  .strict();

/** Rows a load may always quarantine, whatever their share (`quality.quarantineBudgetRows`). */
export const DEFAULT_QUARANTINE_BUDGET_ROWS = 3;

/**
 * The quarantine budget of `rows` rows: how many may go to quarantine before a load is refused —
 * the share (`quality.quarantineBudget`) or the floor in rows (`quality.quarantineBudgetRows`),
 * whichever allows more, the floor kept below half the rows. The one rule every check uses.
 */
export function quarantineAllowance(quality: PipelineSpec['quality'], rows: number): number {
  const floor = Math.min(quality.quarantineBudgetRows, Math.ceil(rows / 2) - 1);
  return Math.max(quality.quarantineBudget * rows, floor, 0);
}

/** Is quarantining `bad` of `rows` rows within the budget? */
export const withinQuarantineBudget = (quality: PipelineSpec['quality'], bad: number, rows: number): boolean =>
  bad <= quarantineAllowance(quality, rows);

/** The budget as a reader sees it: "1.0% or 3 rows". */
export function budgetLabel(quality: PipelineSpec['quality']): string {
  const share = `${(quality.quarantineBudget * 100).toFixed(1)}%`;
  return quality.quarantineBudgetRows > 0 ? `${share} or ${quality.quarantineBudgetRows} rows` : share;
}

/** Bounds of the silent drift check that can be set per column (`quality.profile.columns.<name>`). */
const profileColumnCheckSchema = z
  .object({
    /** Check this column at all. @default true (false for a column read from a default only) */
    enabled: z.boolean().optional(),
    /** See `quality.profile.maxCenterShiftSd`. */
    maxCenterShiftSd: z.number().positive().optional(),
    /** See `quality.profile.maxCenterShiftRelative`. */
    maxCenterShiftRelative: z.number().min(0).optional(),
    /** See `quality.profile.maxNullRateRise`. */
    maxNullRateRise: z.number().min(0).max(1).optional(),
    /** See `quality.profile.maxPsi`. */
    maxPsi: z.number().positive().optional(),
    /** See `quality.profile.maxLengthRatio`. */
    maxLengthRatio: z.number().min(1).optional(),
    /** See `quality.profile.minPatternOverlap`. */
    minPatternOverlap: z.number().min(0).max(1).optional(),
    /** Look for unit changes (see `quality.profile.unitFactors`). @default true */
    unitChange: z.boolean().optional(),
  })
  .strict();

/** Unit factors looked for by default (each both ways): ten, hundred, thousand, million, minutes, hours, days, KiB. */
export const DEFAULT_UNIT_FACTORS: readonly number[] = [10, 100, 1000, 1_000_000, 60, 3600, 86_400, 1024];

/** `quality.profile`: the silent drift check (see `core/etl/silent-drift.ts`). */
export const profileCheckSchema = z
  .object({
    /** Run the check on every load (a column's own `enabled` overrides it). @default true */
    enabled: z.boolean().default(true),
    /**
     * Largest move of a number column's median or mean, in standard deviations (the geometric mean
     * of the baseline's and the load's): looser than verification's, as data legitimately changes
     * between loads. A move counts only when it is also beyond `maxCenterShiftRelative`. @default 3
     */
    maxCenterShiftSd: z.number().positive().default(3),
    /**
     * Least relative move of the centre (|Δ| / |baseline centre|) for a centre shift to count: keeps
     * trending series (prices, CO2, counts) from being refused for moving a few percent. @default 0.5
     */
    maxCenterShiftRelative: z.number().min(0).default(0.5),
    /** Largest rise of a column's null rate (absolute, 0..1). @default 0.2 */
    maxNullRateRise: z.number().min(0).max(1).default(0.2),
    /**
     * Largest population stability index between the baseline's and the load's category shares
     * (string and boolean columns with at most 50 distinct values), beyond the sampling noise
     * expected for the two row counts. @default 0.25
     */
    maxPsi: z.number().positive().default(0.25),
    /** Largest ratio (either way) of the mean length of a high-cardinality string column. @default 2 */
    maxLengthRatio: z.number().min(1).default(2),
    /** Least share of a high-cardinality string column's values whose shape class the baseline had. @default 0.5 */
    minPatternOverlap: z.number().min(0).max(1).default(0.5),
    /**
     * Factors a unit change is recognised by (each checked both ways: × and ÷): a number column whose
     * centre and spread both moved by about one of them. @default [10, 100, 1000, 1000000, 60, 3600, 86400, 1024]
     */
    unitFactors: z.array(z.number().gt(1)).default([...DEFAULT_UNIT_FACTORS]),
    /** How close (as a ratio) the moves of centre and spread must be to each other and to a unit factor. @default 1.6 */
    unitTolerance: z.number().gt(1).max(3).default(1.6),
    /** Skip the check when the load or the baseline has fewer rows: their figures would be noise. @default 30 */
    minRows: z.number().int().min(1).default(30),
    /** Per-column bounds, by contract column name. @default {} */
    columns: z.record(z.string(), profileColumnCheckSchema).default({}),
  })
  .strict();

export const specSchema = z
  .object({
    apiVersion: z.literal(SPEC_API_VERSION),
    name: pipelineNameSchema,
    description: z.string().optional(),
    source: sourceSchema,
    contract: z.object({ columns: z.array(contractColumnSchema).min(1) }).strict(),
    /** Contract column -> how to read it from the source. A string is shorthand for `{ from }`. */
    mapping: z.record(z.string(), z.union([z.string().min(1), mappingEntrySchema])),
    target: z
      .object({
        table: identifier,
        /** @default "replace" */
        mode: z.enum(LOAD_MODES).default('replace'),
        /** Key columns for `merge`. */
        key: z.array(z.string()).optional(),
        /**
         * A many-file run where some files cannot be loaded (or healed), in `replace` mode: `refuse`
         * leaves the table as it was and the run fails; `load-and-flag` replaces the table with the
         * files that loaded and ends the run `partial` (not green either way). `append` and `merge`
         * always commit the files that load and end `partial`; a later run of the same files loads
         * only those not loaded yet. @default "refuse"
         */
        partial: z.enum(PARTIAL_POLICIES).default('refuse'),
      })
      .strict(),
    quality: z
      .object({
        /** Largest share of rows that may go to quarantine before the load is refused. @default 0.01 */
        quarantineBudget: z.number().min(0).max(1).default(0.01),
        /**
         * Rows that may always go to quarantine, whatever their share: a small file's few bad rows
         * (1 of 60 is over 1 %) do not refuse its load. Never half of a file's rows or more: the
         * floor then gives way to the share. @default 3
         */
        quarantineBudgetRows: z.number().int().min(0).default(DEFAULT_QUARANTINE_BUDGET_ROWS),
        /**
         * The silent drift check run on every load: the profile of the rows about to load is compared
         * with the baseline (the last good load's profile) and the load stops, table untouched, when a
         * column moved beyond these bounds. Absent: every default below.
         */
        profile: profileCheckSchema.optional(),
      })
      .strict()
      // prefault: an absent block is parsed as {}, so the field defaults above are the only ones.
      .prefault({}),
    healing: z
      .object({
        /** Healing attempts per episode. @default 3 */
        maxAttempts: z.number().int().min(1).max(10).default(3),
        /** `review` waits for a human before applying a verified fix. @default "auto" */
        mode: z.enum(HEAL_MODES).default('auto'),
        /**
         * In `review` mode, how long an episode waits for approve/reject before it counts as
         * rejected ("72h", "30m", "2d"). @default {@link DEFAULT_APPROVAL_TIMEOUT}
         */
        approvalTimeout: z
          .string()
          .refine((v) => parseDuration(v) !== undefined, { message: 'must be a duration such as "72h", "30m" or "2d"' })
          .default(DEFAULT_APPROVAL_TIMEOUT),
        /**
         * What each class of drift may do on its own (see common/policy.ts): new columns, renames,
         * type changes, dropped optional columns, distribution shifts; per column in `columns`.
         * Absent: every default.
         */
        policy: policySchema.prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((spec, ctx) => {
    const contractNames = spec.contract.columns.map((c) => c.name);
    const seen = new Set<string>();
    spec.contract.columns.forEach((c, i) => {
      const lower = c.name.toLowerCase();
      if (seen.has(lower)) {
        ctx.addIssue({
          code: 'custom',
          path: ['contract', 'columns', i, 'name'],
          message: `duplicate column "${c.name}"`,
        });
      }
      seen.add(lower);
      if (c.format && c.type !== 'date' && c.type !== 'timestamp') {
        ctx.addIssue({
          code: 'custom',
          path: ['contract', 'columns', i, 'format'],
          message: `a format applies to date and timestamp columns only, not ${c.type}`,
        });
      }
    });
    for (const key of Object.keys(spec.mapping)) {
      if (!contractNames.includes(key)) {
        ctx.addIssue({ code: 'custom', path: ['mapping', key], message: `"${key}" is not a contract column` });
      }
    }
    spec.contract.columns.forEach((c, i) => {
      const m = spec.mapping[c.name];
      const entry = typeof m === 'string' ? { from: m } : m;
      if (entry?.from !== undefined && entry.expr !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['mapping', c.name], message: 'use either from or expr, not both' });
        return;
      }
      if (!entry || (entry.from === undefined && entry.expr === undefined && entry.default === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['mapping', c.name],
          message: `contract column "${c.name}" needs a mapping: { from: <source column> } or a default`,
        });
        return;
      }
      if (entry.from !== undefined && !spec.source.columns.includes(entry.from)) {
        ctx.addIssue({
          code: 'custom',
          path: ['mapping', c.name, 'from'],
          message: `source column "${entry.from}" is not in source.columns`,
        });
      }
      if (
        entry.from === undefined &&
        entry.expr === undefined &&
        c.required &&
        (entry.default === null || entry.default === undefined)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['contract', 'columns', i, 'required'],
          message: `required column "${c.name}" has no source column and no non-null default`,
        });
      }
    });
    if (spec.source.format === 'csv' && !spec.source.csv) {
      // Defaults are filled in by normalisation; nothing to report.
    }
    if (spec.target.mode === 'merge') {
      if (!spec.target.key?.length) {
        ctx.addIssue({
          code: 'custom',
          path: ['target', 'key'],
          message: 'merge mode needs target.key (one or more contract columns)',
        });
      }
      for (const k of spec.target.key ?? []) {
        if (!contractNames.includes(k)) {
          ctx.addIssue({ code: 'custom', path: ['target', 'key'], message: `key "${k}" is not a contract column` });
        }
      }
    }
    for (const [i, k] of spec.source.partitionKeys.entries()) {
      if (!contractNames.includes(k)) {
        ctx.addIssue({
          code: 'custom',
          path: ['source', 'partitionKeys', i],
          message: `"${k}" is not a contract column`,
        });
      }
    }
    spec.source.files.forEach((o, i) => {
      const columns = o.columns ?? spec.source.columns;
      for (const [key, m] of Object.entries(o.mapping ?? {})) {
        if (!contractNames.includes(key)) {
          ctx.addIssue({
            code: 'custom',
            path: ['source', 'files', i, 'mapping', key],
            message: `"${key}" is not a contract column`,
          });
          continue;
        }
        const from = typeof m === 'string' ? m : m.from;
        if (from !== undefined && !columns.includes(from)) {
          ctx.addIssue({
            code: 'custom',
            path: ['source', 'files', i, 'mapping', key, 'from'],
            message: `source column "${from}" is not among the columns of files matching "${o.match}"`,
          });
        }
      }
    });
    const dupSource = spec.source.columns.filter((c, i, a) => a.indexOf(c) !== i);
    if (dupSource.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['source', 'columns'],
        message: `duplicate source columns: ${[...new Set(dupSource)].join(', ')}`,
      });
    }
  });

export type SpecInput = z.input<typeof specSchema>;
type ParsedSpec = z.output<typeof specSchema>;
export type MappingEntry = z.output<typeof mappingEntrySchema>;
export type ContractColumn = z.output<typeof contractColumnSchema>;
export type CsvOptions = z.output<typeof csvOptionsSchema>;
export type ProfileCheck = z.output<typeof profileCheckSchema>;
export type ProfileColumnCheck = z.output<typeof profileColumnCheckSchema>;

/** How files whose name matches read differently (mapping normalised to objects). */
export type FileOverride = Omit<z.output<typeof fileOverrideSchema>, 'mapping'> & {
  mapping?: Record<string, MappingEntry>;
};

/** A validated spec with its mapping normalised to objects and CSV options filled in. */
export type PipelineSpec = Omit<ParsedSpec, 'mapping' | 'source'> & {
  source: Omit<ParsedSpec['source'], 'csv' | 'files'> & { csv: CsvOptions; files: FileOverride[] };
  mapping: Record<string, MappingEntry>;
};

function normaliseMapping(m: Record<string, string | MappingEntry>): Record<string, MappingEntry> {
  const out: Record<string, MappingEntry> = {};
  for (const [k, v] of Object.entries(m)) out[k] = typeof v === 'string' ? { from: v } : v;
  return out;
}

export type SpecParseResult = { ok: true; spec: PipelineSpec } | { ok: false; issues: string[] };

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(spec)';
}

/** Validate an already-parsed YAML/JSON value. Messages name the exact field, e.g. `contract.columns[1].type: ...`. */
export function parseSpec(value: unknown): SpecParseResult {
  const res = specSchema.safeParse(value);
  if (!res.success) {
    return { ok: false, issues: res.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
  }
  const s = res.data;
  const csv = s.source.csv ?? csvOptionsSchema.parse({});
  const files = s.source.files.map((o) => {
    const { mapping: m, ...rest } = o;
    return m ? { ...rest, mapping: normaliseMapping(m) } : rest;
  });
  return { ok: true, spec: { ...s, source: { ...s.source, csv, files }, mapping: normaliseMapping(s.mapping) } };
}

/** The contract column's parse format: the mapping's override, else the contract's. */
export function parseFormat(spec: PipelineSpec, column: ContractColumn): string | undefined {
  return spec.mapping[column.name]?.format ?? column.format;
}
