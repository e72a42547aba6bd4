/** The metrics activity: a finished run's record, kept by store/runs.ts for `heal metrics` and the dashboard. */
import type { RunRecord } from '../common/types';
import type { HealConfig } from '../lib/config';
import { appendRunRecord } from '../store/runs';

export interface MetricsDeps {
  config: Pick<HealConfig, 'home'>;
}

export function createMetricsActivities(deps: MetricsDeps) {
  return {
    /** Record one finished pipeline run (and its episode); idempotent per run. */
    async recordRun(input: RunRecord): Promise<void> {
      appendRunRecord(deps.config.home, input);
    },
  };
}
