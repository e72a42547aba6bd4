/**
 * The quarantine replay activity (`heal quarantine replay`): the rows earlier loads quarantined,
 * cast again with a spec version and committed to the warehouse by core/etl/replay.ts. Idempotent:
 * a row loads only when its quarantine row is deleted in the same transaction, so a retried
 * attempt finds nothing left to load and reports what the first one did (its load record).
 */
import type { ReplayQuarantineInput, ReplayQuarantineResult } from '../common/contracts';
import { replayQuarantined } from '../core/etl/replay';
import { quarantineTable } from '../core/etl/target';
import type { HealStore } from '../store';
import type { Warehouse } from '../warehouse';

export interface QuarantineDeps {
  store: HealStore;
  warehouse: Warehouse;
}

export function createQuarantineActivities(deps: QuarantineDeps) {
  const { store, warehouse } = deps;
  return {
    /** Replay the quarantined rows the input selects through spec `specVersion` (see core/etl/replay.ts). */
    async replayQuarantine(input: ReplayQuarantineInput): Promise<ReplayQuarantineResult> {
      const started = Date.now();
      const { spec } = await store.specs.read(input.pipeline, input.specVersion);
      const outcome = await warehouse.quarantine.replay((conn, target) =>
        replayQuarantined(conn, {
          spec,
          specVersion: input.specVersion,
          replayId: input.replayId,
          filter: {
            ...(input.runId !== undefined ? { runId: input.runId } : {}),
            ...(input.reason !== undefined ? { reason: input.reason } : {}),
          },
          target,
        }),
      );
      return {
        pipeline: input.pipeline,
        table: spec.target.table,
        quarantineTable: quarantineTable(spec.target.table),
        warehouse: warehouse.where,
        specVersion: input.specVersion,
        mode: spec.target.mode,
        replayId: input.replayId,
        ...outcome,
        durationMs: Date.now() - started,
      };
    },
  };
}
