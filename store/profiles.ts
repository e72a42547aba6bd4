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

/** The document kept of a committed load: its run's profile, and the baseline until the next load. */
export function loadProfileDoc(record: LoadProfileRecord): string {
  return JSON.stringify(
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
}

/** The profile a baseline document holds, or null when there is none. */
export function baselineProfile(doc: { profile?: TableProfile } | null | undefined): TableProfile | null {
  return doc?.profile ?? null;
}

/** Record a committed load's profile and make it the baseline; returns where the run's profile is. */
export function saveLoadProfile(home: string, pipeline: string, record: LoadProfileRecord): string {
  const layout = stateLayout(home);
  const file = layout.runProfile(pipeline, record.runId);
  const doc = loadProfileDoc(record);
  writeFileAtomic(file, doc);
  writeFileAtomic(layout.baseline(pipeline), doc);
  return file;
}

/** The baseline profile of a pipeline: the profile of its last good load. */
export function readBaseline(home: string, pipeline: string): TableProfile | null {
  return baselineProfile(readJson<{ profile: TableProfile }>(stateLayout(home).baseline(pipeline)));
}
