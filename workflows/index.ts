/** Workflow entry points registered on the worker. Deterministic code only. */
export { pipelineRun, PIPELINE_FAILED } from './pipeline-run';
export { healingEpisode, HEALING_FAILED } from './healing-episode';
export { healAttempt } from './heal-attempt';
export { manualRollback, scheduledRun, ROLLBACK_FAILED } from './operations';
export { partitionedRun, partitionRun, PARTITIONED_RUN_FAILED } from './partitioned-run';
export { quarantineReplay } from './quarantine-replay';
