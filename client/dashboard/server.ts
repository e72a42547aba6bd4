/**
 * `heal dashboard --serve`: a small read-only HTTP server on Node's `http`.
 *
 *   GET /              the live page (refreshes its main section from /api/view)
 *   GET /api/view      {generatedAt, html}: the main section, rendered and escaped on the server
 *   GET /api/metrics   the metrics object (exactly what `heal metrics --json` prints)
 *   GET /metrics       Prometheus text exposition format 0.0.4
 *   GET /healthz       "ok"
 *
 * Every response is computed from the state directory when asked (nothing cached beyond a
 * request), with a strict Content-Security-Policy; only GET and HEAD are accepted.
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderPrometheus, type HealMetrics } from '../../core/metrics-model';
import { esc } from './svg-charts';
import { renderMain, renderPage, type PageLinks } from './page';

export interface DashboardServerOptions extends PageLinks {
  /** Computes the metrics (called per request). */
  metrics: () => Promise<HealMetrics>;
  /** @default "127.0.0.1" */
  host?: string;
  /** 0 lets the OS pick a free port. @default 8484 */
  port?: number;
  /** Seconds between refreshes of the live page. @default 5 */
  refreshSeconds?: number;
  /** Shown in the page header. */
  home?: string;
}

export interface DashboardServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
};

export async function startDashboardServer(opts: DashboardServerOptions): Promise<DashboardServer> {
  const links: PageLinks = { uiUrl: opts.uiUrl, namespace: opts.namespace };
  const send = (
    res: http.ServerResponse,
    status: number,
    type: string,
    body: string,
    extra: Record<string, string> = {},
    head = false,
  ) => {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      ...SECURITY_HEADERS,
      ...extra,
    });
    res.end(head ? undefined : body);
  };

  const server = http.createServer((req, res) => void serve(req, res));
  async function serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    const route = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      switch (route) {
        case '/':
        case '/index.html': {
          const nonce = randomBytes(16).toString('base64');
          const html = renderPage(await opts.metrics(), {
            ...links,
            live: true,
            nonce,
            refreshSeconds: opts.refreshSeconds ?? 5,
            ...(opts.home ? { home: opts.home } : {}),
          });
          const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
          send(res, 200, 'text/html; charset=utf-8', html, { 'content-security-policy': csp }, head);
          return;
        }
        case '/api/view': {
          const m = await opts.metrics();
          send(
            res,
            200,
            'application/json; charset=utf-8',
            JSON.stringify({ generatedAt: m.generatedAt, html: renderMain(m, links) }),
            {},
            head,
          );
          return;
        }
        case '/api/metrics':
          send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(await opts.metrics())}\n`, {}, head);
          return;
        case '/metrics':
          send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', renderPrometheus(await opts.metrics()), {}, head);
          return;
        case '/healthz':
          send(res, 200, 'text/plain; charset=utf-8', 'ok\n', {}, head);
          return;
        default:
          send(res, 404, 'text/plain; charset=utf-8', 'not found\n', {}, head);
      }
    } catch (err) {
      const message = (err as Error).message.split('\n')[0] ?? 'error';
      const wantsHtml = route === '/' || route === '/index.html';
      if (wantsHtml)
        send(
          res,
          500,
          'text/html; charset=utf-8',
          `<!doctype html><meta charset="utf-8"><title>heal</title><p>heal dashboard: ${esc(message)}</p>`,
          { 'content-security-policy': "default-src 'none'" },
          head,
        );
      else send(res, 500, 'application/json; charset=utf-8', JSON.stringify({ error: message }), {}, head);
    }
  }

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8484, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
