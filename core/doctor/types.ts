/**
 * The doctor: given a drift report, the current spec, the baseline profile and what the drifted
 * source looks like, propose a patch (or say it has no confident answer). Two kinds behind this
 * one interface: `rules` (offline, deterministic) and `llm` (a model through the `openai` package).
 */
import type { ContractColumn, CsvOptions, MappingEntry, PipelineSpec } from '../../common/spec';
import type { DriftReport, PreviousAttempt } from '../../common/types';
import type { ColumnProfile, TableProfile } from '../etl/profile';
import type { ValueSketch } from '../etl/sketch';
import type { DoctorName, Diagnosis } from '../../common/contracts';
// The contracts are common/'s (one owner); re-exported for the callers that import them from here.
export type { DoctorName, Diagnosis };

/** What one source column (read as text) looks like. Bounded: a few clipped samples, top patterns. */
export interface SourceColumnSummary {
  name: string;
  /** 0-based position in the file. */
  position: number;
  nonEmpty: number;
  nulls: number;
  distinct: number;
  /** Up to 8 distinct values, each clipped to 60 characters ("***" for masked columns). */
  samples: string[];
  /** Shape classes (letters → a, digits → 9), most common first. */
  patterns: { pattern: string; share: number }[];
  length: { min: number; max: number; mean: number } | null;
}

/**
 * The drifted source as read with some reader options: the whole source, or only its first rows
 * (a sampled probe, see `SourceProbeOptions.sampleRows`), which `complete` tells apart.
 */
export interface SourceSummary {
  files: string[];
  /**
   * Data rows read: the source's count when `complete`; otherwise the size of the sample, the first
   * `rows` rows of a source that has more (its total is not known). Every figure of the summary
   * (per-column counts, samples, patterns, lengths) describes these rows.
   */
  rows: number;
  /** True when the whole source was read; false when only its first `rows` rows were (the source has more). */
  complete: boolean;
  columns: SourceColumnSummary[];
  /** Reader options used (csv only). */
  reader?: CsvOptions;
}

/**
 * Parsing one source column as a contract column, measured on the rows the probe read: the same rows
 * as its {@link SourceSummary} for those reader options (the whole source, or its first rows when the
 * summary is not `complete`).
 */
export interface ProbeResult {
  nonEmpty: number;
  parsed: number;
  /** parsed / nonEmpty (1 when there is nothing to parse). */
  rate: number;
  /** Profile of the parsed values (as the contract column would be loaded). */
  profile: ColumnProfile | null;
}

/** Questions a doctor may ask about the real drifted data (DuckDB-backed in the activity). */
export interface SourceProbe {
  /** Summaries of the source's columns read with these reader options (default: the spec's). */
  summarize(reader?: Partial<CsvOptions>): Promise<SourceSummary | { error: string }>;
  /** Read `entry.from` (or `entry.expr`) as `column` with the entry's cleaning/format; measure it (over the summary's rows). */
  tryColumn(column: ContractColumn, entry: MappingEntry, reader?: Partial<CsvOptions>): Promise<ProbeResult>;
  /**
   * The sketch of the values `entry.from` loads as `column` (over the summary's rows), to compare with
   * the values the table already holds (see core/etl/sketch.ts). Undefined when nothing parses or the
   * entry is an expression. Optional: a probe without it gives the doctor no value evidence.
   */
  valueSketch?(
    column: ContractColumn,
    entry: MappingEntry,
    reader?: Partial<CsvOptions>,
  ): Promise<ValueSketch | undefined>;
}

// Workflows build it from their attempt records: common/ owns it.
export type { PreviousAttempt } from '../../common/types';

export interface DiagnoseInput {
  spec: PipelineSpec;
  specVersion: number;
  drift: DriftReport;
  /** Profile of the last good load (null when none was recorded). */
  baseline: TableProfile | null;
  /** The drifted source read with the spec's reader options. */
  source: SourceSummary | { error: string };
  /** Earlier attempts of this episode, oldest first. */
  previous: PreviousAttempt[];
  /**
   * The sketch of the values the target table already holds in a contract column (the last good
   * loads), to tell renamed columns apart by their values; undefined when the table or the column
   * does not exist. Absent when no warehouse is at hand: the doctor then decides without it.
   */
  tableValues?: (column: string) => Promise<ValueSketch | undefined>;
}

export interface Doctor {
  readonly name: DoctorName;
  diagnose(input: DiagnoseInput, probe: SourceProbe): Promise<Diagnosis>;
}
