/** The metrics activity: a finished run's record, kept by the store's run log for `heal metrics` and the dashboard. */
import type { RunRecord } from '../common/types';
import type { HealStore } from '../store';

export interface MetricsDeps {
  store: Pick<HealStore, 'runs'>;
}

export function createMetricsActivities(deps: MetricsDeps) {
  return {
    /** Record one finished pipeline run (and its episode); idempotent per run. */
    async recordRun(input: RunRecord): Promise<void> {
      await deps.store.runs.append(input);
    },
  };
}
