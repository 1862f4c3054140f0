/**
 * The swarm dashboard in a real browser: the built bin/supernode serves the page, four
 * bin/dfget hosts (rate-limited so the swarm is slow enough to watch) fetch one file, and
 * headless Chromium (driven by playwright-core) watches the task and its four peers' piece
 * maps fill in to 100 %. The page may talk to nobody but the supernode. The last view is
 * saved as docs/dashboard.png (the README shows it).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { hasChromium, startChromium } from '../harness/chromium.js'
import { createTestData, sha256Hex, startOrigin } from '../harness/origin.js'
import { ROOT, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { createTmpDir } from '../harness/tmp-dir.js'

const MiB = 1024 * 1024
const HOSTS = 4
const SCREENSHOT_PATH = join(ROOT, 'docs', 'dashboard.png')
const PEER_ROWS = '#detail-body article.peer[data-cid]'

// The page's DOM, as far as the predicates below read it: they run in the browser (passed
// as functions: the page's CSP forbids evaluating strings), and this project's TypeScript
// has no DOM library.
interface PageRow { readonly dataset: Readonly<Record<string, string | undefined>> }
declare const document: {
  querySelectorAll(selector: string): Iterable<PageRow>
  querySelector(selector: string): { readonly textContent: string | null } | null
}
const hasRows = ({ selector, hosts }: { selector: string, hosts: number }): boolean => [...document.querySelectorAll(selector)].length === hosts
// A row can show before the task's geometry is known at the supernode (0 pieces until then).
const knowsPieceCount = (selector: string): boolean => Number([...document.querySelectorAll(selector)][0]?.dataset.pieceCount ?? 0) > 0
const isSomeMapFilling = (selector: string): boolean => [...document.querySelectorAll(selector)]
  .some((row) => Number(row.dataset.donePieces) > 0 && Number(row.dataset.donePieces) < Number(row.dataset.pieceCount))
const areAllMapsFull = ({ selector, hosts }: { selector: string, hosts: number }): boolean => {
  const rows = [...document.querySelectorAll(selector)]
  return rows.length === hosts && rows.every((row) => row.dataset.donePieces === row.dataset.pieceCount && row.dataset.status === 'success')
}
const isTaskAt100 = (): boolean => document.querySelector('tr.task-row .bar-text')?.textContent === '100 %'

test('the dashboard shows the task and its 4 peers, their piece maps filling in live to 100 %', { timeout: 90_000 }, async (t) => {
  if (!await hasChromium()) { t.skip('no chromium (install Debian\'s chromium; .ci/run does)'); return }
  const data = createTestData(64 * MiB, 41)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/images/layer-0.tar': { data } } }))
  const dir = stack.push(await createTmpDir('damselfly-dashboard-', true))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  stack.defer(() => stopChild(sn.child))
  const homes = Array.from({ length: HOSTS }, (_, i) => join(dir.path, `host-${i}`))
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })
  const chromium = await startChromium(join(dir.path, 'chromium-profile'))
  stack.defer(() => chromium.close())

  const context = chromium.browser.contexts()[0] ?? await chromium.browser.newContext()
  const page = await context.newPage()
  await page.setViewportSize({ width: 1440, height: 960 })
  const foreignRequests: string[] = []
  page.on('request', (request) => { if (!request.url().startsWith(sn.apiUrl) && !request.url().startsWith('data:')) foreignRequests.push(request.url()) })
  const pageErrors: string[] = []
  page.on('pageerror', (err) => { pageErrors.push(err.message) })

  await page.goto(`${sn.apiUrl}/`)
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 })

  // Four hosts, each limited to 8 MiB/s: about 8 s for the 64 MiB file.
  const runs = Promise.all(homes.map(async (home, i) => await runDfgetProcess([
    '-u', origin.url('/images/layer-0.tar'), '-o', join(dir.path, `out-${i}`), '-n', sn.node, '--home', home, '-s', '8M',
  ])))
  runs.catch(() => {}) // awaited below; a rejection here must not go unhandled meanwhile

  await page.waitForSelector('tr.task-row', { timeout: 20_000 })
  // The newest task is selected by itself; its four peers appear with piece maps.
  await page.waitForFunction(hasRows, { selector: PEER_ROWS, hosts: HOSTS }, { timeout: 20_000 })
  await page.waitForFunction(knowsPieceCount, PEER_ROWS, { timeout: 20_000, polling: 100 })
  const pieceCount = Number(await page.locator(PEER_ROWS).first().getAttribute('data-piece-count'))
  assert.equal(pieceCount, 64)
  // Live: a map seen part-filled, later full.
  await page.waitForFunction(isSomeMapFilling, PEER_ROWS, { timeout: 20_000, polling: 100 })
  const partial = await Promise.all((await page.locator(PEER_ROWS).all()).map(async (row) => Number(await row.getAttribute('data-done-pieces'))))
  assert.ok(partial.some((done) => done < 64), `some map was still filling: ${partial.join(',')}`)

  const results = await runs
  for (const [i, run] of results.entries()) {
    assert.equal(run.exitCode, 0, `dfget ${i}: ${run.stderr}`)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), sha256Hex(data), `output ${i}`)
  }
  await page.waitForFunction(areAllMapsFull, { selector: PEER_ROWS, hosts: HOSTS }, { timeout: 20_000, polling: 100 })
  const percents = await page.locator(`${PEER_ROWS} .peer-percent`).allTextContents()
  assert.deepEqual(percents, ['100 %', '100 %', '100 %', '100 %'])
  await page.waitForFunction(isTaskAt100, undefined, { timeout: 10_000 })
  const peersShare = await page.textContent('[data-card="peers"] .card-value')
  assert.match(peersShare ?? '', /%$/)

  await page.screenshot({ path: SCREENSHOT_PATH, fullPage: true })
  assert.deepEqual(foreignRequests, [], 'the page requests nothing but the supernode')
  assert.deepEqual(pageErrors, [])
})

test('with an API token the page asks for it, keeps it for the tab, and takes it from ?token= once', { timeout: 60_000 }, async (t) => {
  if (!await hasChromium()) { t.skip('no chromium (install Debian\'s chromium; .ci/run does)'); return }
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-dashboard-token-'))
  const sn = await spawnSupernode(join(dir.path, 'supernode'), ['--token', 'dash-token-1'])
  stack.defer(() => stopChild(sn.child))
  const chromium = await startChromium(join(dir.path, 'chromium-profile'))
  stack.defer(() => chromium.close())
  const context = chromium.browser.contexts()[0] ?? await chromium.browser.newContext()

  const page = await context.newPage()
  await page.goto(`${sn.apiUrl}/`)
  await page.waitForSelector('#connection[data-state="token"]', { timeout: 15_000 })
  assert.equal(await page.isVisible('#token-form'), true)
  await page.fill('#token-input', 'wrong')
  await page.click('#token-form button')
  await page.waitForSelector('#connection[data-state="token"]', { timeout: 15_000 })
  await page.fill('#token-input', 'dash-token-1')
  await page.click('#token-form button')
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 })
  assert.equal(await page.isVisible('#token-form'), false)
  await page.reload()
  await page.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 })

  const fresh = await context.newPage() // a new tab: sessionStorage is per tab
  await fresh.goto(`${sn.apiUrl}/?token=dash-token-1`)
  await fresh.waitForSelector('#connection[data-state="live"]', { timeout: 15_000 })
  assert.equal(new URL(fresh.url()).search, '', 'the token leaves the address bar')
})
