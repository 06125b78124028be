import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { chromium } from 'playwright-core';

/** Where browser tests leave their screenshots. */
export const ARTIFACTS = resolve(import.meta.dirname, '../artifacts');

const CHROMIUM = '/usr/bin/chromium';
/** Headless and quiet: no sandbox (containers), no calls home, no first-run pages. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** A Chromium with its own throw-away profile; `close` ends it and removes the profile. */
export interface LaunchedChromium {
  context: BrowserContext;
  close(): Promise<void>;
}

export interface ChromiumOptions {
  viewport?: { width: number; height: number };
  /** Also make sure the artifacts directory exists (tests that take screenshots). */
  artifacts?: boolean;
}

export async function launchChromium(options: ChromiumOptions = {}): Promise<LaunchedChromium> {
  if (options.artifacts) await mkdir(ARTIFACTS, { recursive: true });
  const profileDir = await mkdtemp(join(tmpdir(), 'operator-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      ...(options.viewport ? { viewport: options.viewport } : {}),
    });
  } catch (error) {
    await rm(profileDir, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    close: async () => {
      await context.close();
      await rm(profileDir, { recursive: true, force: true });
    },
  };
}

/** Signs `page` in through the UI's form at `baseUrl` (with an optional `#hash` route) with `token`. */
export async function signIn(page: Page, baseUrl: string, token: string, hash = ''): Promise<Page> {
  await page.goto(`${baseUrl}/${hash}`);
  await page.fill('#signin-token', token);
  await page.click('#signin-form button[type=submit]');
  await page.waitForSelector('#who:not([hidden])');
  return page;
}

/** Records into `problems` every page error, console error and answer of 400 or more the page meets. */
export function recordPageProblems(page: Page, problems: string[]): Page {
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`);
  });
  return page;
}
