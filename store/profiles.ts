/**
 * Load profiles: every committed load's profile, and the baseline (the last good load's) that the
 * silent drift check and verification compare with.
 */
import { readJson, writeFileAtomic } from '../lib/atomic-files';
import type { TableProfile } from '../common/types';
import { stateLayout } from './layout';

/** What is recorded of a committed load's profile. */
export interface LoadProfileRecord {
  runId: string;
  specVersion: number;
  sources: string[];
  profile: TableProfile;
}

/** Record a committed load's profile and make it the baseline; returns where the run's profile is. */
export function saveLoadProfile(home: string, pipeline: string, record: LoadProfileRecord): string {
  const layout = stateLayout(home);
  const file = layout.runProfile(pipeline, record.runId);
  const doc = JSON.stringify(
    {
      runId: record.runId,
      specVersion: record.specVersion,
      at: new Date().toISOString(),
      sources: record.sources,
      profile: record.profile,
    },
    null,
    2,
  );
  writeFileAtomic(file, doc);
  writeFileAtomic(layout.baseline(pipeline), doc);
  return file;
}

/** The baseline profile of a pipeline: the profile of its last good load. */
export function readBaseline(home: string, pipeline: string): TableProfile | null {
  return readJson<{ profile: TableProfile }>(stateLayout(home).baseline(pipeline))?.profile ?? null;
}
