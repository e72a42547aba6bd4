/**
 * Look at the Temporal Web UI with headless Chromium (playwright-core + Debian chromium): the
 * workflow list filtered by `PipelineName` (and optionally `HealOutcome`), and one workflow's page.
 * Prints what the page shows and saves screenshots under test-artifacts/.
 *
 *   node -r tsx/cjs tools/webui-check.ts <pipeline> [<workflowId>] [--outcome failed] [--ui http://localhost:8233]
 */
import { workflowsUrl, workflowUrl } from '../common/ids';
import { loadConfig } from '../lib/config';
import { artifactPath, launchBrowser } from './browser';

async function main(argv: string[]): Promise<void> {
  const flag = (name: string, dflt?: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv.splice(i, 2)[1] : dflt;
  };
  const { uiUrl, namespace } = loadConfig();
  const ui = (flag('--ui') ?? uiUrl).replace(/\/$/, '');
  const outcome = flag('--outcome');
  const [pipeline, workflowId] = argv;
  if (!pipeline) throw new Error('usage: webui-check.ts <pipeline> [<workflowId>] [--outcome failed] [--ui URL]');
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
    const query = `PipelineName="${pipeline}"` + (outcome ? ` AND HealOutcome="${outcome}"` : '');
    await page.goto(`${workflowsUrl(ui, namespace)}?query=${encodeURIComponent(query)}`, {
      waitUntil: 'networkidle',
    });
    await page.getByText('Workflow ID').first().waitFor({ timeout: 15_000 });
    await page.screenshot({ path: artifactPath('webui-list.png') });
    const rows = await page.locator('table tbody tr').allInnerTexts();
    console.log(`${query}: ${rows.length} workflow(s)\n${rows.map((r) => `  ${r.replace(/\s+/g, ' ')}`).join('\n')}`);
    if (workflowId) {
      await page.goto(workflowUrl(ui, namespace, workflowId), {
        waitUntil: 'networkidle',
      });
      await page.getByText('Timeline').first().waitFor({ timeout: 15_000 });
      await page.screenshot({ path: artifactPath('webui-workflow.png'), fullPage: true });
      console.log(`${workflowId}: screenshot saved`);
    }
  } finally {
    await browser.close();
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
