/**
 * Metrics kept in the state directory, derived from finished runs and their episodes.
 * (Being built: see issue 6.)
 */
import type { HealConfig } from '../lib/config';
import type { RunRecord } from '../common/types';

export interface MetricsDeps {
  config: Pick<HealConfig, 'home'>;
}

export function createMetricsActivities(deps: MetricsDeps) {
  return {
    /** Record one finished pipeline run (and its episode) for `heal metrics` and the dashboard. */
    async recordRun(input: RunRecord): Promise<void> {
      void deps;
      void input;
    },
  };
}
