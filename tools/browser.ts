/**
 * Headless Chromium for tests, through playwright-core (no browser download: the Debian `chromium`
 * package, installed by scripts/setup.sh). `CHROMIUM_PATH` overrides where it is.
 *
 * ```ts
 * const browser = await launchBrowser();
 * try { const page = await browser.newPage(); … } finally { await browser.close(); }
 * ```
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ROOT } from '../tests/helpers/cli';

/** The Chromium executable: `CHROMIUM_PATH`, else the first of the usual Debian/Ubuntu paths that exists. */
export function chromiumPath(): string {
  const fromEnv = process.env['CHROMIUM_PATH'];
  const candidates = [fromEnv, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'].filter(
    (p): p is string => Boolean(p),
  );
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found)
    throw new Error(`Chromium not found (tried ${candidates.join(', ')}): run \`npm run setup\` or set CHROMIUM_PATH`);
  return found;
}

/** Launch headless Chromium (no sandbox: tests run as root in CI containers). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] });
}

/** Where tests save screenshots and other artifacts (`test-artifacts/`, git-ignored). */
export function artifactPath(name: string): string {
  const dir = path.join(ROOT, 'test-artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
