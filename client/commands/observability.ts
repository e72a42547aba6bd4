/**
 * `heal metrics [--json]` and `heal dashboard --serve | --out <file>`: figures computed from the
 * state directory (runs, episodes, alerts, pipelines); no Temporal server needed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { formatDuration } from '../../common/duration';
import type { HealMetrics } from '../../core/metrics-model';
import { collectMetrics } from '../dashboard/collect';
import { renderPage } from '../dashboard/page';
import { startDashboardServer } from '../dashboard/server';
import { CliError, EXIT, type CliContext } from '../context';

const nf = new Intl.NumberFormat('en-US');

/** Dollars: cents for sums ≥ 1¢, else three significant digits. */
export function usd(v: number): string {
  return v === 0 ? '$0' : v < 0.01 ? `$${v.toPrecision(3)}` : `$${v.toFixed(2)}`;
}

/** The human summary of `heal metrics`. */
export function formatMetrics(m: HealMetrics, home: string): string {
  const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(1)}%`);
  const dur = (v: number | null) => (v === null ? '—' : formatDuration(v));
  const kinds = Object.entries(m.drifts.byKind)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const e = m.episodes;
  const lines = [
    `heal metrics · ${home}`,
    `  runs        ${nf.format(m.runs.total)}  (succeeded ${m.runs.succeeded}, healed ${m.runs.healed}, partial ${m.runs.partial}, failed ${m.runs.failed}) · ok ${pct(m.runs.successRate)}`,
    `  drifts      ${nf.format(m.drifts.total)}${kinds ? `  (${kinds})` : ''}`,
    `  episodes    ${nf.format(e.total)}  healed ${e.healed} · failed ${e.failed} · rolled back ${e['rolled-back']} · rejected ${e.rejected} · awaiting ${e.awaiting}`,
    `  healing     ${pct(e.successRate)} success (healed ÷ finished episodes)`,
    `  MTTR        p50 ${dur(m.mttr.p50Ms)} · p95 ${dur(m.mttr.p95Ms)} · max ${dur(m.mttr.maxMs)}  (${m.mttr.count} healed; drift detected → healed table committed)`,
    `  attempts    ${m.attempts.mean === null ? '—' : m.attempts.mean.toFixed(2)} per episode · max ${m.attempts.max}`,
    `  doctor      ${Object.entries(m.doctors)
      .map(([d, n]) => `${d} ${n}`)
      .join(' · ')}`,
    `  LLM         ${nf.format(m.llm.totalTokens)} tokens (${nf.format(m.llm.promptTokens)} prompt + ${nf.format(m.llm.completionTokens)} completion) · est. ${usd(m.llm.estimatedCostUsd)}${m.llm.unpricedModels.length ? ` (+ unpriced: ${m.llm.unpricedModels.join(', ')})` : ''}`,
    `  rows        ${nf.format(m.rows.loaded)} loaded · ${nf.format(m.rows.quarantined)} quarantined`,
    `  alerts      sent ${m.notifications.sent} · grouped ${m.notifications.grouped} · failed ${m.notifications.failed} · disabled ${m.notifications.disabled}`,
  ];
  for (const f of m.alertFailures.slice(0, 3))
    lines.push(
      `    ✖ ${f.at} ${f.pipeline} ${f.outcome} alert not sent after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}: ${f.error ?? f.detail ?? f.status}`,
    );
  if (m.pipelines.length) {
    lines.push('  pipelines');
    for (const p of m.pipelines) {
      lines.push(
        `    ${p.pipeline}  v${p.specVersion ?? '?'}  ${p.runs} runs${p.lastOutcome ? ` · last ${p.lastOutcome} ${p.lastRunAt ?? ''}` : ''}${p.schedule ? ` · ${p.schedule}` : ''}`,
      );
    }
  }
  return lines.join('\n');
}

async function collect(ctx: CliContext, prices?: string): Promise<HealMetrics> {
  try {
    return await collectMetrics({ config: ctx.config, ...(prices ? { prices } : {}) });
  } catch (err) {
    throw new CliError(`metrics: ${(err as Error).message}`, EXIT.badInput, 'MetricsUnreadable');
  }
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new CliError(`--port: must be an integer from 0 to 65535, got "${v}"`, EXIT.badInput, 'BadInput');
  return n;
}

/** Wait for SIGINT/SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(sig);
    };
    const onInt = () => on('SIGINT');
    const onTerm = () => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

export function registerObservabilityCommands(program: Command, ctx: (json?: boolean) => CliContext): void {
  program
    .command('metrics')
    .description(
      'healing figures from the state directory: runs, drifts, episodes, success rate, MTTR, attempts, doctors, LLM tokens and cost, quarantine, alerts',
    )
    .option('--json', 'print exactly one JSON object on stdout')
    .option(
      '--prices <file>',
      'JSON price table (USD per 1k tokens by model) overriding the defaults and <home>/metrics/prices.json',
    )
    .action(async (o: { json?: boolean; prices?: string }) => {
      const c = ctx(o.json);
      const m = await collect(c, o.prices);
      if (o.json) process.stdout.write(`${JSON.stringify(m)}\n`);
      else console.log(formatMetrics(m, c.config.home));
    });

  program
    .command('dashboard')
    .description(
      'the healing dashboard: --serve a live page (and Prometheus text at /metrics), or write a static page with --out',
    )
    .option('--serve', 'serve the live page until Ctrl-C')
    .option('--port <n>', 'port to listen on (0: any free port)', '8484')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--refresh <seconds>', 'seconds between refreshes of the live page', '5')
    .option('--out <file>', 'write a static page (no script) to this file')
    .option('--prices <file>', 'JSON price table (USD per 1k tokens by model)')
    .option('--json', 'print what was done as one JSON object')
    .action(
      async (o: {
        serve?: boolean;
        port: string;
        host: string;
        refresh: string;
        out?: string;
        prices?: string;
        json?: boolean;
      }) => {
        const c = ctx(o.json);
        if (!o.serve && !o.out)
          throw new CliError(
            'dashboard: use --serve (live page) or --out <file> (static page)',
            EXIT.badInput,
            'BadInput',
          );
        const links = { uiUrl: c.config.uiUrl, namespace: c.config.namespace };
        if (o.out) {
          const out = path.resolve(o.out);
          const html = renderPage(await collect(c, o.prices), { ...links, live: false, home: c.config.home });
          try {
            fs.mkdirSync(path.dirname(out), { recursive: true });
            fs.writeFileSync(out, html);
          } catch (err) {
            throw new CliError(
              `${out}: cannot write (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
              EXIT.badInput,
              'BadInput',
            );
          }
          if (o.json) process.stdout.write(`${JSON.stringify({ out, bytes: Buffer.byteLength(html) })}\n`);
          else console.log(`dashboard written to ${out}`);
        }
        if (!o.serve) return;
        const refresh = Number(o.refresh);
        if (!Number.isFinite(refresh) || refresh < 1)
          throw new CliError(
            `--refresh: must be a number of seconds ≥ 1, got "${o.refresh}"`,
            EXIT.badInput,
            'BadInput',
          );
        await collect(c, o.prices); // a bad price table is an error now, not on the first request
        let server;
        try {
          server = await startDashboardServer({
            ...links,
            metrics: () => collect(c, o.prices),
            host: o.host,
            port: parsePort(o.port),
            refreshSeconds: refresh,
            home: c.config.home,
          });
        } catch (err) {
          if (err instanceof CliError) throw err;
          throw new CliError(
            `dashboard: cannot listen on ${o.host}:${o.port} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
            EXIT.badInput,
            'BadInput',
          );
        }
        if (o.json) process.stdout.write(`${JSON.stringify({ url: server.url, metrics: `${server.url}metrics` })}\n`);
        else console.log(`dashboard: ${server.url}  (Prometheus: ${server.url}metrics; Ctrl-C stops)`);
        await untilSignal();
        await server.close();
      },
    );
}
