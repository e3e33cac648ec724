// The six wizard steps end to end, point and click, in Chromium against serve mode with the real
// engine and database (CPU): stories260K-hf and a small dataset → model → data (preview, template
// view) → a LoRA run → live charts that survive a reload → pause (a checkpoint) and resume, one
// curve → held-out loss and chat with the base and base + adapter → a merged export written,
// reloaded and scored → runs compared. A screenshot of every step goes to test-artifacts/e2e/;
// every page must fit 1280×800 without horizontal scrolling.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveAssets, stories260K } from '../helpers/assets.js';
import { tempHome } from '../helpers/temp-home.js';
import { collectProblems, launchBrowser, screenshot } from './browser.js';
import { startServe, type ServeProcess } from './serve-process.js';

const stories = ['Lily found a red ball in the park.', 'Tom saw a big dog and smiled.', 'The sun was hot, so Sam sat in the shade.', 'Mia gave her friend a flower.', 'Ben and his mom baked a cake.', 'The cat jumped on the bed and slept.'];

async function noHorizontalScroll(page: Page): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, 'horizontal overflow in px').toBeLessThanOrEqual(0);
}

async function goToStep(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Fine-tuning steps' }).getByRole('link', { name }).click();
  await expect.poll(() => page.locator('main h1').textContent()).toBe(name);
}

describe.skipIf(!haveAssets)('the wizard in Chromium: stories260K from model to export', () => {
  const home = tempHome();
  const data = join(home.dir, 'stories.jsonl');
  let serve: ServeProcess;
  let browser: Browser;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    writeFileSync(
      data,
      Array.from({ length: 40 }, (_, i) => JSON.stringify({ instruction: `Tell me a short story number ${i}.`, input: '', output: `${stories[i % 6]} ${stories[(i + 1) % 6]}` })).join('\n') + '\n',
    );
    serve = await startServe(join(home.dir, 'home'));
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    problems = collectProblems(page);
    await page.goto(serve.url);
  });
  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    home.cleanup();
  });

  it('1. model: reads the folder and explains it; a wrong folder gets a clear error', async () => {
    await goToStep(page, 'Model');
    const field = page.getByLabel('Model folder');
    await field.fill(join(home.dir, 'no-such-model'));
    await page.getByRole('button', { name: 'Open model' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/no-such-model does not exist: expected a Hugging Face model folder/);
    await field.fill(stories260K);
    await field.press('Enter'); // the keyboard submits the form
    await expect.poll(() => page.getByTestId('model-params').textContent(), { timeout: 20_000 }).toContain('260,032');
    expect(await page.getByTestId('model-arch').textContent()).toBe('llama');
    expect(await page.getByTestId('model-context').textContent()).toContain('512 tokens');
    expect(await page.getByTestId('model-template').textContent()).toMatch(/built-in alpaca template/);
    await noHorizontalScroll(page);
    await screenshot(page, '10-model');
  });

  it('2. data: previews, imports, and shows the tokens the model will see', async () => {
    await goToStep(page, 'Data');
    await page.getByLabel('Data file').fill(data);
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByTestId('detected-format').textContent()).toMatch(/JSONL with alpaca rows/);
    expect(await page.getByTestId('preview-table').locator('tbody tr').count()).toBe(6);
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expect.poll(() => page.getByTestId('import-done').textContent(), { timeout: 30_000 }).toContain('Imported 40 rows');
    expect(await page.getByTestId('split-counts').textContent()).toMatch(/36 training and 4 validation examples/);
    // The template view: prompt tokens masked, response tokens trained, EOS appended and trained.
    const view = page.getByTestId('token-view').first();
    await expect.poll(() => view.locator('.tok.target').count(), { timeout: 20_000 }).toBeGreaterThan(5);
    expect(await view.locator('.tok.prompt').count()).toBeGreaterThan(5);
    expect(await view.locator('.tok.special.target').last().textContent()).toBe('</s>');
    expect(await view.locator('.tok.prompt').allTextContents().then((t) => t.join(''))).toContain('### Instruction:');
    expect(await page.getByRole('img', { name: /Histogram of tokens per example/ }).count()).toBe(1);
    await noHorizontalScroll(page);
    await screenshot(page, '11-data');
  });

  it('3. method: every method startable with its defaults, memory estimate, keyboard choice of LoRA', async () => {
    await goToStep(page, 'Method');
    const radios = page.getByRole('radiogroup', { name: 'Fine-tuning method' }).getByRole('radio');
    expect(await radios.count()).toBe(5);
    // The keyboard moves between the cards (a native radio group).
    await page.getByRole('radio', { name: /^LoRA\b/ }).focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.getByRole('radio', { name: /^QLoRA\b/ }).isChecked()).toBe(true);
    expect(await page.getByLabel('Learning rate', { exact: true }).inputValue()).toBe('0.0002');
    await page.getByRole('radio', { name: /^Zeroth-order/ }).check();
    expect(await page.getByLabel('Learning rate', { exact: true }).inputValue()).toBe('0.000001');
    await page.getByLabel('Parameters perturbed').selectOption('lora');
    expect(await page.getByLabel('Learning rate', { exact: true }).inputValue()).toBe('0.0001');
    await page.keyboard.press('Shift+Tab'); // keyboard back to the cards
    await page.getByRole('radio', { name: /^LoRA\b/ }).focus();
    await page.keyboard.press('Space');
    expect(await page.getByRole('radio', { name: /^LoRA\b/ }).isChecked()).toBe(true);
    expect(await page.getByLabel('Run folder').inputValue()).toMatch(new RegExp(`^${join(home.dir, 'home', 'runs')}/\\d{4}-\\d\\d-\\d\\dT[\\d-]+-lora$`));
    await page.getByText('Advanced: LoRA').click();
    expect(await page.getByLabel('Target projections').inputValue()).toBe('all-linear');
    expect(await page.getByLabel('LoRA dropout').inputValue()).toBe('0.05');
    await page.getByLabel('Steps', { exact: true }).fill('300');
    await page.getByLabel('Learning rate', { exact: true }).fill('0.02');
    await page.getByLabel('Sequence length', { exact: true }).fill('128');
    const before = await page.getByTestId('memory-estimate').textContent();
    await page.getByLabel('Batch size', { exact: true }).fill('4');
    await expect.poll(() => page.getByTestId('memory-estimate').textContent()).not.toBe(before);
    expect(await page.getByTestId('memory-estimate').textContent()).toMatch(/MiB of .* RAM/);
    expect(await page.getByTestId('memory-detail').textContent()).toContain('92,480 of 260,032 parameters trained');
    expect(await page.getByTestId('start-blocker').count()).toBe(0);
    await noHorizontalScroll(page);
    await screenshot(page, '12-method');
    await page.getByRole('button', { name: 'Start training' }).click();
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Train');
  });

  it('4. train: live charts, rebuilt after a reload; pause writes a checkpoint, resume continues the same curve', async () => {
    const lossPoints = () => page.getByRole('img', { name: /^Loss:/ }).getByTestId('chart-point').count();
    await expect.poll(lossPoints, { timeout: 30_000 }).toBeGreaterThan(2);
    expect(await page.getByTestId('run-state').textContent()).toBe('running');
    await page.reload();
    await expect.poll(() => page.locator('main h1').textContent()).toBe('Train');
    // Right after the reload the points come from the database, then events extend them.
    await expect.poll(lossPoints, { timeout: 10_000 }).toBeGreaterThan(2);
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 30_000 }).toBe('cancelled');
    const resume = page.getByRole('button', { name: /^Resume from step \d+$/ });
    await expect.poll(() => resume.count(), { timeout: 10_000 }).toBe(1);
    const pausedAt = Number(/(\d+)$/.exec((await resume.textContent())!)![1]);
    expect(pausedAt).toBeGreaterThan(2);
    expect(pausedAt).toBeLessThan(300);
    await screenshot(page, '13-train-paused');
    await resume.click();
    await expect.poll(() => page.getByTestId('run-chain').textContent()).toMatch(/Continues run 1/);
    await expect.poll(() => page.getByTestId('run-state').textContent(), { timeout: 90_000 }).toBe('succeeded');
    expect(await page.getByTestId('train-progress').textContent()).toContain('Step 300 of 300');
    // One curve: every step from 1 to 300 once, the paused run's points and the resumed run's.
    for (const chart of ['Loss', 'Learning rate', 'Tokens per second', 'Engine memory']) {
      expect(await page.getByRole('img', { name: new RegExp(`^${chart}: 300 points`) }).count(), chart).toBe(1);
    }
    await page.reload();
    await expect.poll(() => page.getByRole('img', { name: /^Loss: 300 points/ }).count(), { timeout: 10_000 }).toBe(1);
    await noHorizontalScroll(page);
    await screenshot(page, '13-train');
  });

  it('5. evaluate: held-out loss of the base and base + adapter, and both answer in the chat', async () => {
    await goToStep(page, 'Evaluate');
    await page.getByRole('button', { name: 'Compute held-out loss' }).click();
    const rows = page.getByTestId('eval-row');
    await expect.poll(() => rows.allTextContents(), { timeout: 60_000 }).toEqual([expect.stringContaining('succeeded'), expect.stringContaining('succeeded')]);
    expect(await rows.nth(1).locator('td').first().textContent()).toBe('Fine-tuned (base + adapter)');
    const loss = async (i: number) => Number((await rows.nth(i).locator('td').nth(1).textContent())!.trim());
    // Fine-tuning on these stories lowers the loss on held-out rows of the same kind.
    expect(await loss(1)).toBeLessThan(await loss(0));
    await page.getByLabel('Message').fill('Tell me a short story number 7.');
    await page.getByRole('button', { name: 'Ask both models' }).click();
    const answers = page.getByTestId('chat-answer');
    await expect.poll(() => answers.count()).toBe(2);
    await expect.poll(() => page.getByRole('button', { name: 'Ask both models' }).isEnabled(), { timeout: 30_000 }).toBe(true);
    expect((await answers.nth(0).locator('.answer-text').textContent())!.trim().length).toBeGreaterThan(0);
    // The fine-tuned model answers in the words of its stories.
    expect(await answers.nth(1).locator('.answer-text').textContent()).toMatch(/Lily|Tom|Sam|Mia|Ben|cat|sun|ball|dog|flower|cake/);
    await noHorizontalScroll(page);
    await screenshot(page, '14-evaluate');
  });

  it('6. export: a merged bf16 model written with progress, listed, reloaded and scored', async () => {
    await goToStep(page, 'Export');
    await page.getByRole('radio', { name: /^Merged model/ }).check();
    await page.getByLabel('Weights dtype').selectOption('bf16');
    await page.getByRole('button', { name: 'Export', exact: true }).click();
    await expect.poll(async () => `${await page.getByTestId('export-progress').textContent()} ${await page.getByRole('alert').allTextContents()}`, { timeout: 60_000 }).toMatch(/^Written to /);
    await expect.poll(() => page.getByTestId('exports-table').locator('tbody tr').count()).toBe(1);
    expect(await page.getByTestId('export-path').textContent()).toContain(join(home.dir, 'home', 'exports'));
    expect(await page.getByTestId('exports-table').textContent()).toContain('merged bf16');
    await page.getByRole('button', { name: /^Check the export/ }).click();
    await expect.poll(() => page.getByTestId('export-check').textContent(), { timeout: 30_000 }).toMatch(/Loads: llama, 260,032 parameters.*perplexity \d+\.\d\d/s);
    await noHorizontalScroll(page);
    await screenshot(page, '15-export');
  });

  it('7. runs: method, trained parameters and final loss in history; the resumed run compared as one curve', async () => {
    await page.getByRole('link', { name: 'Runs' }).click();
    const resumed = page.getByTestId('run-row').filter({ hasText: 'lora (resumed)' });
    await expect.poll(() => resumed.count()).toBe(1);
    expect(await resumed.textContent()).toMatch(/92,480\d\.\d{4} @ 300/);
    await page.getByRole('checkbox', { name: 'Compare run 2' }).check();
    await expect.poll(() => page.getByTestId('compare-table').locator('tbody tr').count()).toBe(1);
    expect(await page.getByTestId('compare-table').textContent()).toMatch(/lora92,480300 \/ 300/);
    await noHorizontalScroll(page);
    await screenshot(page, '16-runs-compare');
    expect(problems).toEqual([]);
  });
});
