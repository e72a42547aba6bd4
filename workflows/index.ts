/** Workflow entry points registered on the worker. Deterministic code only. */
export { pipelineRun, PIPELINE_FAILED } from './pipeline-run';
