/**
 * The bench's figures → its JSON, its targets (issue 16's, as ratios from one run) and its table.
 * Ratios against a peer use the time the peer measures around its own work (node start-up excluded
 * for the floor, imports included for the Python tools): the stricter comparison for heal, whose
 * clean run is timed from the client's start of the workflow to its result.
 */
import type { CliFigures } from './cli';
import type { PeerFigures, PeerName } from './peers';
import { median, percentile, r } from './stats';

export interface SizeFigures {
  rows: number;
  fileMb: number;
  /** The tools a user could pick instead, on the same file (null: not installed or failed). */
  peers: Partial<Record<PeerName, PeerFigures | null>>;
  runs: number;
  e2eWorkerCpuMs: number[];
  e2eMs: number[];
  e2eLoadActivityMs: number[];
  mttrRules: { ms: number[]; phases: Record<string, number | null>; doctors: string[] };
  mttrMemory: { ms: number[]; phases: Record<string, number | null>; doctors: string[] };
  workerPeakRssMb: number | null;
  workerPeakRssCleanMb: number | null;
}

export interface ConcurrencyFigures {
  pipelines: number;
  rows: number;
  healed: number;
  wallS: number | null;
  episodesPerMin: number | null;
  mttrP50S: number | null;
  mttrP95S: number | null;
  runP95S: number | null;
  doctors: Record<string, number>;
  cleanRunsWallS: number | null;
  cleanRunsPerMin: number | null;
  workerPeakRssMb: number | null;
  activitySlots: number;
}

const secs = (ms: number | null | undefined) => r((ms ?? NaN) / 1000);
/** `a / b`, rounded; null when either is missing. */
const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? r(a / b) : null);

export function summarize(f: SizeFigures): Record<string, unknown> {
  const e2e = median(f.e2eMs);
  const peer = (p: PeerName) => f.peers[p] ?? null;
  const mttr = percentile(f.mttrRules.ms, 50);
  return {
    rows: f.rows,
    fileMb: f.fileMb,
    runs: f.runs,
    peers: Object.fromEntries(
      Object.entries(f.peers).map(([k, p]) => [
        k,
        p ? { s: secs(p.ms), processS: secs(p.processMs), peakRssMb: r(p.peakRssMb ?? NaN, 0) } : null,
      ]),
    ),
    floorS: secs(peer('floor')?.ms),
    floorCpuS: secs(peer('floor')?.cpuMs),
    workerCpuS: secs(median(f.e2eWorkerCpuMs)),
    cpuRatioVsFloor: ratio(median(f.e2eWorkerCpuMs), peer('floor')?.cpuMs),
    e2eS: secs(e2e),
    e2eRunsS: f.e2eMs.map((x) => secs(x)),
    loadActivityS: secs(median(f.e2eLoadActivityMs)),
    /** heal's time over the peer's (× floor, × polars: lower is better). */
    ratioVsFloor: ratio(e2e, peer('floor')?.ms),
    ratioVsPolars: ratio(e2e, peer('polars')?.ms),
    /** The peer's time over heal's (how many times faster heal is). */
    speedupVsPandas: ratio(peer('pandas')?.ms, e2e),
    speedupVsDlt: ratio(peer('dlt')?.ms, e2e),
    mttrRulesP50S: secs(mttr),
    mttrRulesP95S: secs(percentile(f.mttrRules.ms, 95)),
    mttrRulesVsFloor: ratio(mttr, peer('floor')?.ms),
    mttrRulesRunsS: f.mttrRules.ms.map((x) => secs(x)),
    mttrRulesPhasesS: f.mttrRules.phases,
    mttrMemoryP50S: secs(percentile(f.mttrMemory.ms, 50)),
    mttrMemoryP95S: secs(percentile(f.mttrMemory.ms, 95)),
    mttrMemoryPhasesS: f.mttrMemory.phases,
    mttrMemoryDoctors: [...new Set(f.mttrMemory.doctors)],
    workerPeakRssCleanMb: f.workerPeakRssCleanMb,
    workerPeakRssMb: f.workerPeakRssMb,
  };
}

interface Target {
  target: string;
  value: number | null;
  met: boolean | null;
}

function target(name: string, value: number | null | undefined, ok: (v: number) => boolean): Target {
  const v = value ?? null;
  return { target: name, value: v, met: v === null ? null : ok(v) };
}

/** Issue 16's targets, each from this run's figures (null when the run did not measure it). */
export function targets(
  sizes: Record<string, unknown>[],
  cli: CliFigures | null,
  concurrency: ConcurrencyFigures | null,
): Target[] {
  const at = (n: number) => sizes.find((s) => s['rows'] === n);
  const num = (s: Record<string, unknown> | undefined, k: string) => (s?.[k] as number | null | undefined) ?? null;
  const out: Target[] = [];
  for (const [n, label] of [
    [1_000_000, '1M'],
    [5_000_000, '5M'],
  ] as const) {
    const s = at(n);
    out.push(
      target(`clean heal run ≤ 1.3× the bare DuckDB floor at ${label}`, num(s, 'ratioVsFloor'), (v) => v <= 1.3),
    );
    out.push(target(`clean heal run ≤ 2× polars at ${label}`, num(s, 'ratioVsPolars'), (v) => v <= 2));
  }
  const s1 = at(1_000_000);
  const s5 = at(5_000_000);
  out.push(target('≥ 4× faster than pandas at 1M', num(s1, 'speedupVsPandas'), (v) => v >= 4));
  out.push(target('≥ 3× faster than dlt at 1M', num(s1, 'speedupVsDlt'), (v) => v >= 3));
  out.push(target('MTTR p50 (rules, one rename) ≤ 1.5× the floor at 1M', num(s1, 'mttrRulesVsFloor'), (v) => v <= 1.5));
  out.push(target('MTTR p50 (rules, one rename) ≤ 1.5× the floor at 5M', num(s5, 'mttrRulesVsFloor'), (v) => v <= 1.5));
  const rss1 = num(s1, 'workerPeakRssMb');
  const rss5 = num(s5, 'workerPeakRssMb');
  out.push(target('worker peak RSS at 5M ≤ 1.2× its peak at 1M', ratio(rss5, rss1), (v) => v <= 1.2));
  out.push(target('worker peak RSS at 5M ≤ 700 MB', rss5, (v) => v <= 700));
  out.push(target('heal --help ≤ 0.25 s (median of 5)', cli ? secs(cli.helpMs) : null, (v) => v <= 0.25));
  out.push(
    target(`a ${cli?.rows ?? 1000}-row heal run ≤ 0.8 s (median of 5)`, cli ? secs(cli.runMs) : null, (v) => v <= 0.8),
  );
  out.push(
    target(
      `${concurrency?.pipelines ?? 50} pipelines drifting at once: all healed, p95 MTTR ≤ 30 s`,
      concurrency ? concurrency.mttrP95S : null,
      (v) => concurrency?.healed === concurrency?.pipelines && v <= 30,
    ),
  );
  return out;
}

function fmtRows(n: number): string {
  return n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n);
}

const v = (x: unknown) => (x === null || x === undefined ? '–' : String(x));

function sizeTable(sizes: Record<string, unknown>[]): string[] {
  const peerS = (s: Record<string, unknown>, p: PeerName) =>
    v((s['peers'] as Record<string, { s: number } | null>)[p]?.s);
  const header = [
    'rows',
    'bare DuckDB s',
    'polars s',
    'dlt s',
    'pandas s',
    'heal run s',
    '× floor',
    '× polars',
    'pandas ÷ heal',
    'dlt ÷ heal',
    'MTTR p50 s',
    'MTTR × floor',
    'memory hit p50 s',
    'worker peak MB',
  ];
  const rows = sizes.map((s) => [
    fmtRows(Number(s['rows'])),
    peerS(s, 'floor'),
    peerS(s, 'polars'),
    peerS(s, 'dlt'),
    peerS(s, 'pandas'),
    v(s['e2eS']),
    v(s['ratioVsFloor']),
    v(s['ratioVsPolars']),
    v(s['speedupVsPandas']),
    v(s['speedupVsDlt']),
    v(s['mttrRulesP50S']),
    v(s['mttrRulesVsFloor']),
    v(s['mttrMemoryP50S']),
    v(s['workerPeakRssMb']),
  ]);
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map(() => '---').join('|')}|`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function detailLines(sizes: Record<string, unknown>[]): string[] {
  return sizes.map((s) => {
    const peers = Object.entries(s['peers'] as Record<string, { processS: number; peakRssMb: number } | null>)
      .map(([k, p]) => `${k} ${p ? `${v(p.processS)} s, ${v(p.peakRssMb)} MB` : '–'}`)
      .join('; ');
    return (
      `${fmtRows(Number(s['rows']))} (${v(s['runs'])} runs): whole processes (wall, peak RSS): ${peers}; ` +
      `CPU s: worker ${v(s['workerCpuS'])} vs bare DuckDB ${v(s['floorCpuS'])} (×${v(s['cpuRatioVsFloor'])}); ` +
      `MTTR phases (rules, p50 s) ${JSON.stringify(s['mttrRulesPhasesS'])}; memory hit ${JSON.stringify(s['mttrMemoryPhasesS'])}; ` +
      `loadSource activity of a clean run ${v(s['loadActivityS'])} s; worker peak on the clean runs ${v(s['workerPeakRssCleanMb'])} MB`
    );
  });
}

export function formatTable(out: Record<string, unknown>): string {
  const m = out['machine'] as Record<string, unknown>;
  const sizes = out['sizes'] as Record<string, unknown>[];
  const lines: string[] = [
    `machine: ${v(m['nproc'])} cores, ${v(m['memGiB'])} GiB, ${v(m['cpu'])}, node ${v(m['node'])}, ${v(m['platform'])}`,
    `load average at start ${JSON.stringify(m['loadAvgStart'])}, at end ${JSON.stringify(m['loadAvgEnd'])}; ` +
      `worker: ${v(m['activitySlots'])} activity slots, DuckDB memory_limit ${v(m['duckdbMemoryLimit'])} per load`,
    '',
    ...sizeTable(sizes),
    '',
    ...detailLines(sizes),
  ];
  const cli = out['cli'] as CliFigures | null;
  if (cli)
    lines.push(
      `CLI (median of 5): heal --help ${v(secs(cli.helpMs))} s; heal run of ${cli.rows} rows ${v(secs(cli.runMs))} s (runs ${JSON.stringify(cli.runRunsMs.map((x) => secs(x)))})`,
    );
  const c = out['concurrency'] as ConcurrencyFigures | null;
  if (c)
    lines.push(
      `concurrency: ${c.pipelines} pipelines × ${c.rows} rows drifting at once on one worker (${c.activitySlots} activity slots): ${c.healed} healed in ${v(c.wallS)} s = ${v(c.episodesPerMin)} episodes/min; MTTR p50 ${v(c.mttrP50S)} s, p95 ${v(c.mttrP95S)} s; doctors ${JSON.stringify(c.doctors)}; worker peak ${v(c.workerPeakRssMb)} MB`,
    );
  const pg = out['postgres'] as Record<string, unknown> | null;
  if (pg)
    lines.push(
      `PostgreSQL warehouse at ${fmtRows(Number(pg['rows']))} rows (${v(pg['server'])}): clean heal run ${v(pg['healRunS'])} s vs bare COPY of the typed rows ${v(pg['copyFloorS'])} s = ×${v(pg['ratioVsCopy'])}; MTTR p50 ${v(pg['mttrP50S'])} s`,
    );
  const f = out['fanout'] as Record<string, unknown> | null;
  if (f)
    lines.push(
      `fan-out: ${v(f['partitions'])} partitions × ${v(f['rowsPerPartition'])} rows, ≤ ${v(f['maxParallel'])} at once: 1 worker ${v(f['oneWorkerS'])} s, 2 workers ${v(f['twoWorkersS'])} s, speed-up ×${v(f['speedup'])} (partitions per worker ${JSON.stringify(f['partitionsByWorker'])})`,
    );
  lines.push('', 'targets:');
  for (const t of out['targets'] as Target[])
    lines.push(`  ${t.met === null ? '–     ' : t.met ? 'met   ' : 'MISSED'} ${t.target}: ${v(t.value)}`);
  return lines.join('\n');
}
