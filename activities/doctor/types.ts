/**
 * The doctor: given a drift report, the current spec, the baseline profile and what the drifted
 * source looks like, propose a patch (or say it has no confident answer). Two kinds behind this
 * one interface: `rules` (offline, deterministic) and `llm` (a model through the `openai` package).
 */
import type { Patch } from '../../common/patch';
import type { ContractColumn, CsvOptions, MappingEntry, PipelineSpec } from '../../common/spec';
import type { DriftReport, VerificationReport } from '../../common/types';
import type { ColumnProfile, TableProfile } from '../etl/profile';

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

/** The drifted source as read with some reader options. */
export interface SourceSummary {
  files: string[];
  rows: number;
  columns: SourceColumnSummary[];
  /** Reader options used (csv only). */
  reader?: CsvOptions;
}

/** Parsing one source column as a contract column, measured on the whole source. */
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
  /** Read `entry.from` (or `entry.expr`) as `column` with the entry's cleaning/format; measure it. */
  tryColumn(column: ContractColumn, entry: MappingEntry, reader?: Partial<CsvOptions>): Promise<ProbeResult>;
}

/** A previous attempt of this episode, fed back to the doctor ("your fix, and why it failed"). */
export interface PreviousAttempt {
  attempt: number;
  doctor: string;
  patch: Patch | null;
  /** The verification report when the patch was verified and failed. */
  report: VerificationReport | null;
  /** Why the attempt failed, one line (a failed check, a parse error of a model's answer, …). */
  error: string;
}

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
}

export type DoctorName = 'rules' | 'llm' | 'memory';

export type Diagnosis =
  | {
      kind: 'patch';
      doctor: DoctorName;
      patch: Patch;
      /** 0..1; the rules doctor answers only at or above its confidence bar. */
      confidence: number;
      /** Why, one line per decision (shown in reports and pull requests). */
      rationale: string[];
      /** LLM usage, when a model answered. */
      usage?: { promptTokens: number; completionTokens: number; model: string };
    }
  | {
      kind: 'no-answer';
      doctor: DoctorName;
      reason: string;
      /** True when no doctor can fix this (e.g. a required column is gone with nothing to map). */
      fatal: boolean;
    };

export interface Doctor {
  readonly name: DoctorName;
  diagnose(input: DiagnoseInput, probe: SourceProbe): Promise<Diagnosis>;
}
