/**
 * Static checks of docker-compose.temporal.yml: pinned images, healthchecks, startup ordering,
 * ports, PostgreSQL persistence and registration of every heal search attribute.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTE_DEFS } from '../../common/search-attributes';

interface Service {
  image?: string;
  restart?: string;
  healthcheck?: { test?: unknown; disable?: boolean };
  depends_on?: unknown;
  ports?: Array<string | { target?: number; published?: number | string }>;
  environment?: Record<string, string> | string[];
  command?: string | string[];
  entrypoint?: string | string[];
  volumes?: Array<string | { source?: string; target?: string }>;
}
interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const file = path.resolve(__dirname, '../../docker-compose.temporal.yml');
const compose = parse(fs.readFileSync(file, 'utf8')) as ComposeFile;
const services = Object.entries(compose.services);

/** A service is a one-shot job when it explicitly never restarts. */
const isOneShot = (s: Service) => s.restart === 'no';

function env(s: Service): Record<string, string> {
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(
      s.environment.map((kv) => {
        const i = kv.indexOf('=');
        return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
  }
  return s.environment ?? {};
}

function byImage(repo: string): [string, Service] {
  const found = services.find(([, s]) => s.image?.split(':')[0] === repo);
  if (!found) throw new Error(`no service uses image ${repo}`);
  return found;
}

function publishedPorts(s: Service): string[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'string') {
      const parts = p.split(':');
      return parts.length >= 2 ? `${parts[parts.length - 2]}` : parts[0]!;
    }
    return String(p.published ?? p.target);
  });
}

function scriptText(s: Service): string {
  const parts = [s.entrypoint, s.command].flatMap((x) => (x === undefined ? [] : Array.isArray(x) ? x : [x]));
  return parts.join('\n');
}

describe('docker-compose.temporal.yml', () => {
  it('parses and has services', () => {
    expect(services.length).toBeGreaterThanOrEqual(4);
  });

  it.each(services)('%s: image is pinned to an explicit tag', (_name, s) => {
    expect(s.image).toBeDefined();
    const image = s.image!;
    expect(image).not.toContain('${'); // no tag injected from the environment
    expect(image).not.toContain('@'); // tags, not digests, so people can read them
    const lastSlash = image.lastIndexOf('/');
    const colon = image.indexOf(':', lastSlash + 1);
    expect(colon).toBeGreaterThan(0);
    const tag = image.slice(colon + 1);
    expect(tag).not.toBe('');
    expect(tag).not.toMatch(/^(latest|stable|main|master|edge)$/i);
    // At least major.minor (e.g. "16.9", "1.28.1"), not a floating major like "16".
    expect(tag).toMatch(/^v?\d+\.\d+/);
  });

  it.each(services.filter(([, s]) => !isOneShot(s)))('%s: long-running service has a healthcheck', (_name, s) => {
    expect(s.healthcheck).toBeDefined();
    expect(s.healthcheck?.disable).not.toBe(true);
    expect(s.healthcheck?.test).toBeDefined();
  });

  it('every depends_on waits for service_healthy on a declared service', () => {
    let edges = 0;
    for (const [name, s] of services) {
      if (s.depends_on === undefined) continue;
      expect(Array.isArray(s.depends_on)).toBe(false); // list form has no condition
      for (const [dep, cond] of Object.entries(s.depends_on as Record<string, { condition?: string }>)) {
        edges++;
        expect(compose.services[dep]).toBeDefined();
        expect({ service: name, dep, condition: cond.condition }).toEqual({
          service: name,
          dep,
          condition: 'service_healthy',
        });
        expect(compose.services[dep]?.healthcheck).toBeDefined();
      }
    }
    expect(edges).toBeGreaterThanOrEqual(3);
  });

  it('publishes gRPC on 7233 and the Web UI on 8233', () => {
    const [, temporal] = byImage('temporalio/auto-setup');
    const [, ui] = byImage('temporalio/ui');
    expect(publishedPorts(temporal)).toContain('7233');
    expect(publishedPorts(ui)).toContain('8233');
  });

  it('uses PostgreSQL for persistence, on a named volume', () => {
    const [pgName, pg] = byImage('postgres');
    expect(pg.healthcheck?.test).toEqual(expect.arrayContaining([expect.stringContaining('pg_isready')]));
    const [, temporal] = byImage('temporalio/auto-setup');
    const e = env(temporal);
    expect(e.DB).toMatch(/^postgres/);
    expect(e.POSTGRES_SEEDS).toBe(pgName);
    expect(temporal.depends_on).toHaveProperty(pgName);
    const volumes = (pg.volumes ?? []).map((v) => (typeof v === 'string' ? v.split(':')[0] : v.source));
    const named = volumes.filter(
      (v): v is string => v !== undefined && compose.volumes !== undefined && v in compose.volumes,
    );
    expect(named.length).toBe(1);
  });

  it('registers every heal search attribute with its type, idempotently', () => {
    const jobs = services.filter(([, s]) => isOneShot(s) && s.image?.startsWith('temporalio/admin-tools:'));
    expect(jobs).toHaveLength(1);
    const [, job] = jobs[0]!;
    expect(job.depends_on).toHaveProperty(byImage('temporalio/auto-setup')[0]);
    const script = scriptText(job);
    expect(script).toContain('temporal operator search-attribute create');
    expect(script).toContain('temporal operator search-attribute list'); // skip existing ones
    expect(SEARCH_ATTRIBUTE_DEFS.map((d) => d.name).sort()).toEqual([
      'DriftKinds',
      'HealOutcome',
      'PipelineName',
      'SpecVersion',
    ]);
    for (const { name, type } of SEARCH_ATTRIBUTE_DEFS) {
      expect(script).toMatch(new RegExp(`\\b${name}\\s+${type}\\b`));
    }
    expect(env(job).SEARCH_ATTRIBUTE_NAMESPACE).toMatch(/default/);
  });

  it('temporal healthcheck uses the CLI cluster health check', () => {
    const [, temporal] = byImage('temporalio/auto-setup');
    expect(JSON.stringify(temporal.healthcheck?.test)).toContain('operator cluster health');
  });
});
