/**
 * `quarantineReplay` (`heal quarantine replay`): the rows earlier runs quarantined, cast again with
 * the pipeline's current spec; those that now load go into the table and leave quarantine, the
 * rest stay with their new reason. It writes the table, so it runs under the pipeline's lock id
 * (`pipeline-<name>`) like every table-changing workflow: never beside a run, a rollback or another
 * replay of the same pipeline. Its load record is named after its run key (`<run key>-replay`).
 *
 * Deterministic: activities are imported as types only; rows never enter the history, only counts.
 */
import { ApplicationFailure, proxyActivities, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { QuarantineReplayInput, QuarantineReplayResult } from '../common/contracts';
import { replayIdOf, runKeyOf } from '../common/ids';
import { ACTIVITY_PROFILES } from '../common/policies';
import { HEAL_OUTCOME, PIPELINE_NAME, SPEC_VERSION } from '../common/search-attributes';
import { failureOf } from './failures';
import { trackProgress } from './progress';

const quick = proxyActivities<Pick<Activities, 'getPipeline'>>(ACTIVITY_PROFILES.quick);
const etl = proxyActivities<Pick<Activities, 'replayQuarantine'>>(ACTIVITY_PROFILES.etl);

/** What a replay selects, for summaries: "run pipeline-x-2026…, reason ~ "price"". */
function scope(input: QuarantineReplayInput): string {
  const parts = [
    ...(input.runId ? [`run ${input.runId}`] : []),
    ...(input.reason ? [`reason ~ "${input.reason.slice(0, 60)}"`] : []),
  ];
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export async function quarantineReplay(input: QuarantineReplayInput): Promise<QuarantineReplayResult> {
  const { workflowId, startTime } = workflowInfo();
  const replayId = replayIdOf(runKeyOf(workflowId, input.pipeline, startTime));
  const { step } = trackProgress({
    workflow: 'quarantineReplay',
    pipeline: input.pipeline,
    stage: 'starting',
    detail: 'reading the pipeline spec',
    key: replayId,
    startedAt: startTime.toISOString(),
  });
  upsertSearchAttributes([
    { key: PIPELINE_NAME, value: input.pipeline },
    { key: HEAL_OUTCOME, value: 'running' },
  ]);
  try {
    const info = await quick.getPipeline.executeWithOptions({ summary: `read the current spec of ${input.pipeline}` }, [
      { pipeline: input.pipeline },
    ]);
    upsertSearchAttributes([{ key: SPEC_VERSION, value: info.specVersion }]);
    step('replaying', `replaying quarantined rows of ${info.table}${scope(input)} with spec v${info.specVersion}`);
    const result = await etl.replayQuarantine.executeWithOptions(
      { summary: `replay quarantined rows of ${info.table}${scope(input)} through spec v${info.specVersion}` },
      [
        {
          pipeline: input.pipeline,
          specVersion: info.specVersion,
          replayId,
          ...(input.runId ? { runId: input.runId } : {}),
          ...(input.reason ? { reason: input.reason } : {}),
        },
      ],
    );
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'succeeded' }]);
    step(
      'done',
      `${result.replayed} row(s) replayed into ${result.table}, ${result.stillQuarantined} still in quarantine, ${result.superseded} superseded`,
    );
    return { ...result, workflowId };
  } catch (err) {
    // The cause's own type and message (ReplayRefused, WarehouseBusy after its retries…), for the CLI.
    const f = failureOf(err);
    upsertSearchAttributes([{ key: HEAL_OUTCOME, value: 'failed' }]);
    step('done', `failed: ${f.message.slice(0, 160)}`);
    throw ApplicationFailure.create({ type: f.type, message: f.message, nonRetryable: true, details: f.details });
  }
}
