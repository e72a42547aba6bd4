/** Workflow entry points registered on the worker. Deterministic code only. */
export { pipelineRun, PIPELINE_FAILED } from './pipeline-run';
export { healingEpisode, HEALING_FAILED } from './healing-episode';
export { healAttempt } from './heal-attempt';
