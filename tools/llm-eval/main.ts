/**
 * `npm run llm-eval`: the LLM doctor on a real local model, with nothing scripted. The gauntlet's
 * cases (chaos kinds over a dataset, and the drift-case folders) go through the real CLI against a
 * dev server and a worker whose doctor is the model, in two modes:
 *   llm-only  — HEAL_DOCTORS=llm: the model is the only doctor (no rules, no fix memory);
 *   fallback  — HEAL_DOCTORS=rules,llm: the model is asked when the rules have no fix.
 * For each case: what the model's answers were (a valid patch, verified or rejected by the proof on
 * the whole file, or an invalid answer, or noAnswer), how the case ended (healed, refused,
 * quarantined, WRONG), seconds and tokens. Exits 1 on any WRONG table.
 *
 *   npm run llm-eval -- [--model qwen2.5-coder-1.5b] [--modes llm-only,fallback] [--datasets synthetic-customers]
 *                       [--kinds k1,k2] [--no-cases] [--max-attempts 2] [--json <file>] [--write-readme]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { SEARCH_ATTRIBUTE_KEYS } from '../../common/search-attributes';
import type { EpisodeResult } from '../../common/types';
import { startLocalModelProcess, type LocalModelProcess } from '../../integrations/local-llm/process';
import { DEFAULT_LOCAL_MODEL } from '../../integrations/local-llm/models';
import { loadConfig } from '../../lib/config';
import { findTemporalCli } from '../../lib/temporal-cli';
import { workflowBundlePath } from '../../lib/workflow-bundle';
import { CHAOS_KINDS, isChaosKind, type ChaosKind } from '../chaos';
import { buildCases } from '../gauntlet/datasets';
import { driftCaseFolders, runCase, type CaseResult } from '../gauntlet/cases';
import { evalRow, formatEvalTable, type EvalRow } from './report';

const ROOT = path.resolve(__dirname, '..', '..');
const MODES = { 'llm-only': 'llm', fallback: 'rules,llm' } as const;
type Mode = keyof typeof MODES;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

/** An episode's result: its return value, or the details of its failure (a failed episode carries its result there). */
async function episodeResult(env: TestWorkflowEnvironment, id: string): Promise<EpisodeResult | null> {
  try {
    return (await env.client.workflow.getHandle(id).result()) as EpisodeResult;
  } catch (err) {
    const cause = err instanceof WorkflowFailedError ? err.cause : undefined;
    return cause instanceof ApplicationFailure ? ((cause.details?.[0] as EpisodeResult | undefined) ?? null) : null;
  }
}

/** One mode: a worker with that mode's doctors, every case in turn (the model answers one request at a time). */
async function runMode(
  env: TestWorkflowEnvironment,
  local: LocalModelProcess,
  mode: Mode,
  work: string,
  cases: Awaited<ReturnType<typeof buildCases>>,
  maxAttempts: number,
  onRow: (r: EvalRow) => void,
): Promise<EvalRow[]> {
  const home = path.join(work, `state-${mode}`);
  const taskQueue = `llm-eval-${mode}-${process.pid}`;
  const settings = {
    HEAL_HOME: home,
    HEAL_ALLOWED_ROOTS: [work, path.join(ROOT, 'tests', 'fixtures')].join(path.delimiter),
    HEAL_TASK_QUEUE: taskQueue,
    HEAL_MAX_ATTEMPTS: String(maxAttempts),
    HEAL_DOCTORS: MODES[mode],
    OPENAI_BASE_URL: local.url,
    HEAL_MODEL: local.name,
    HEAL_LLM_CONTEXT: String(local.contextSize),
    HEAL_LLM_TIMEOUT: process.env['HEAL_LLM_TIMEOUT'] ?? '10m',
  };
  const config = loadConfig(settings, ROOT);
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: { codePath: await workflowBundlePath(path.join(os.tmpdir(), 'heal-test-cache')) },
    activities: createActivities({ config }),
    maxConcurrentActivityTaskExecutions: 2,
  });
  const running = worker.run();
  const rows: EvalRow[] = [];
  try {
    const g = {
      env: {
        PATH: process.env['PATH'],
        HOME: process.env['HOME'],
        NO_COLOR: '1',
        ...settings,
        TEMPORAL_ADDRESS: env.address,
      },
      warehouse: config.warehouse,
      bin: path.join(ROOT, 'bin', 'heal.js'),
    };
    for (const c of cases) {
      if (!c.drifted) continue;
      const r: CaseResult = await runCase(g, c);
      const episode = r.episodeId ? await episodeResult(env, r.episodeId) : null;
      const row = evalRow(mode, r, episode);
      rows.push(row);
      onRow(row);
    }
  } finally {
    worker.shutdown();
    await running;
  }
  return rows;
}

async function main(): Promise<void> {
  const model = arg('model') ?? DEFAULT_LOCAL_MODEL;
  const modes = (arg('modes') ?? Object.keys(MODES).join(',')).split(',') as Mode[];
  for (const m of modes) if (!(m in MODES)) throw new Error(`unknown mode "${m}" (${Object.keys(MODES).join(', ')})`);
  const datasets = (arg('datasets') ?? 'synthetic-customers').split(',').filter(Boolean);
  const kinds = (arg('kinds') ?? CHAOS_KINDS.map((k) => k.kind).join(',')).split(',').filter(Boolean);
  for (const k of kinds) if (!isChaosKind(k)) throw new Error(`unknown kind "${k}"`);
  const maxAttempts = Number(arg('max-attempts') ?? 2);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'heal-llm-eval-'));
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const cli = findTemporalCli(loadConfig({}, ROOT));
  if (!cli) throw new Error('no Temporal CLI: run `npm run setup`');
  const started = Date.now();
  const local = await startLocalModelProcess({ model, projectRoot: ROOT });
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cli.path },
      ip: '127.0.0.1',
      searchAttributes: [...SEARCH_ATTRIBUTE_KEYS],
    },
  });
  const rows: EvalRow[] = [];
  try {
    const cases = [
      ...(await buildCases(work, datasets, kinds as ChaosKind[], 7)),
      ...(flag('no-cases') ? [] : driftCaseFolders(path.join(ROOT, 'tests', 'fixtures', 'drift-cases'))),
    ];
    console.error(
      `llm-eval: ${local.name} (${local.contextSize}-token context), ${cases.filter((c) => c.drifted).length} cases × ${modes.join(', ')}, up to ${maxAttempts} attempts each`,
    );
    for (const mode of modes) {
      rows.push(
        ...(await runMode(env, local, mode, work, cases, maxAttempts, (r) =>
          console.error(
            `  ${r.mode.padEnd(8)} ${r.case.padEnd(40)} ${r.result.padEnd(9)} ${r.answers.padEnd(24)} ${r.seconds.toFixed(0).padStart(4)} s ${r.tokens} tokens${r.verdict.endsWith('correct') ? '' : ` — ${(r.errors.at(-1) ?? r.detail).slice(0, 300)}`}`,
          ),
        )),
      );
    }
  } finally {
    await env.teardown();
    await local.stop();
  }
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  const t = formatEvalTable(rows);
  console.log(t.table);
  console.log(`\n${t.summary}; ${minutes} min on ${os.cpus().length} cores; model ${local.name}`);
  const jsonOut = arg('json');
  if (jsonOut)
    fs.writeFileSync(jsonOut, JSON.stringify({ model: local.name, minutes: Number(minutes), rows }, null, 2));
  if (flag('write-readme')) {
    const readme = path.join(ROOT, 'README.md');
    const text = fs.readFileSync(readme, 'utf8');
    const block = `<!-- llm-eval:start -->\n${t.table}\n\n${t.summary}. Model ${local.name}, ${minutes} min on ${os.cpus().length} cores (${new Date().toISOString().slice(0, 10)}).\n<!-- llm-eval:end -->`;
    fs.writeFileSync(readme, text.replace(/<!-- llm-eval:start -->[\s\S]*<!-- llm-eval:end -->/, block));
  }
  fs.rmSync(work, { recursive: true, force: true });
  if (rows.some((r) => r.result === 'WRONG')) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`llm-eval: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
