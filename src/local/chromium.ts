// Debian's chromium, headless: what a person would see of a page, as a PNG (hack/install-debian-packages.sh
// installs it with the tests' packages). Used by the report test and npm run screenshots.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Renders `url` in a window of `width` x `height` and writes the screenshot to `file`. */
export async function screenshot(url: string, file: string, width = 800, height = 1200): Promise<void> {
  await promisify(execFile)(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--hide-scrollbars',
      '--force-device-scale-factor=1',
      `--window-size=${width},${height}`,
      `--screenshot=${file}`,
      url,
    ],
    { timeout: 60_000 },
  );
}

/** The page's DOM after its scripts ran (up to `budgetMs` of virtual time), as chromium's --dump-dom prints it. */
export async function renderedDom(url: string, budgetMs = 5000): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--allow-file-access-from-files',
      `--virtual-time-budget=${budgetMs}`,
      '--dump-dom',
      url,
    ],
    { timeout: 60_000, maxBuffer: 32 << 20 },
  );
  return stdout;
}
