import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core (never `npx playwright install`: no browser
 * download). .ci/run installs the package when it is missing, so a missing browser is a failure
 * here, not a skip.
 */
export const CHROMIUM = process.env.INFERBOX_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set INFERBOX_CHROMIUM)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
}

/** Everything the page reported as an error: uncaught exceptions and console.error lines. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`uncaught: ${err.message}`));
  page.on('console', (msg) => {
    // A failed request the page handles (a 4xx it shows as a message) is logged by Chromium as a
    // resource error; the page's own errors are what this collects.
    if (msg.type() === 'error' && !/Failed to load resource/.test(msg.text())) errors.push(`console.error: ${msg.text()}`);
  });
  return errors;
}
