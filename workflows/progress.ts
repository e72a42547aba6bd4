/**
 * A workflow's progress: answered by the `progress` query and mirrored in the Web UI's current
 * details at each step. Deterministic.
 */
import { setCurrentDetails, setHandler } from '@temporalio/workflow';
import { progressQuery, type Progress } from './messages';

/** Register the `progress` query; `step` moves to a stage and sets the current details. */
export function trackProgress(initial: Progress): {
  progress: Progress;
  step: (stage: string, detail: string, extra?: Partial<Progress>) => void;
} {
  const progress: Progress = { ...initial };
  setHandler(progressQuery, () => progress);
  return {
    progress,
    step(stage, detail, extra = {}) {
      Object.assign(progress, { stage, detail }, extra);
      setCurrentDetails(detail);
    },
  };
}
