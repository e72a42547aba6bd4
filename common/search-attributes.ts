/**
 * Custom search attributes used by heal workflows. Deterministic: no Node imports, safe to import
 * from workflow code. The dev server registers {@link SEARCH_ATTRIBUTE_DEFS} at start-up, and
 * `docker-compose.temporal.yml` registers the same list on a PostgreSQL-backed server.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attribute type names as the Temporal CLI spells them (`--search-attribute Name=Type`). */
export type SearchAttributeCliType = 'Keyword' | 'KeywordList' | 'Int' | 'Text' | 'Datetime' | 'Bool' | 'Double';

/** Every custom search attribute heal needs, in CLI spelling. */
export const SEARCH_ATTRIBUTE_DEFS: ReadonlyArray<{ name: string; type: SearchAttributeCliType }> = Object.freeze([
  Object.freeze({ name: 'PipelineName', type: 'Keyword' as const }),
  Object.freeze({ name: 'HealOutcome', type: 'Keyword' as const }),
  Object.freeze({ name: 'DriftKinds', type: 'KeywordList' as const }),
  Object.freeze({ name: 'SpecVersion', type: 'Int' as const }),
]);

/** Name of the pipeline a run belongs to. */
export const PIPELINE_NAME = defineSearchAttributeKey('PipelineName', SearchAttributeType.KEYWORD);
/** Where a run or episode is: running, succeeded, healing, awaiting-approval, healed, failed, rolled-back, rejected (episodes), skipped (scheduled runs), partial (partitioned runs). */
export const HEAL_OUTCOME = defineSearchAttributeKey('HealOutcome', SearchAttributeType.KEYWORD);
/** Kinds of drift detected during the run. */
export const DRIFT_KINDS = defineSearchAttributeKey('DriftKinds', SearchAttributeType.KEYWORD_LIST);
/** Spec version the run loaded (or produced, after healing). */
export const SPEC_VERSION = defineSearchAttributeKey('SpecVersion', SearchAttributeType.INT);

/** Every key, for servers that take typed keys (`TestWorkflowEnvironment.createLocal`). */
export const SEARCH_ATTRIBUTE_KEYS = Object.freeze([PIPELINE_NAME, HEAL_OUTCOME, DRIFT_KINDS, SPEC_VERSION] as const);
