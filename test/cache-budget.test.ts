/**
 * The CDN cache's disk budget with real servers: a supernode in process with a budget
 * smaller than two files, a real origin, in-process dfgets, and the cache directory on disk.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../src/common/lifecycle.js'
import { createSilentLogger } from '../src/common/log.js'
import { resolveDfgetConfig, runDfget } from '../src/dfget/index.js'
import { createTestData, sha256Hex, startOrigin } from './harness/origin.js'
import { startTestPeer, type TestPeer } from './harness/peer.js'
import { metricValue, startTestSupernode, waitForCdn, type TestSupernode } from './harness/supernode.js'
import { createTmpDir } from './harness/tmp-dir.js'

const MiB = 1024 * 1024

/** Bytes of CDN cache data files under the supernode's home. */
async function cacheBytes (homeDir: string): Promise<number> {
  let total = 0
  const root = join(homeDir, 'cdn')
  for (const shard of await readdir(root).catch(() => [])) {
    for (const name of await readdir(join(root, shard))) if (name.endsWith('.data')) total += (await stat(join(root, shard, name))).size
  }
  return total
}

/**
 * One dfget run through the swarm. It returns once the CDN has closed the file too: a dfget
 * can finish while the CDN still syncs the file it fed it from (slow on a busy disk), and a
 * file the CDN is still writing is in use, so the budget may not evict it yet.
 */
async function download (sn: TestSupernode, peer: TestPeer, url: string, output: string, cwd: string): Promise<void> {
  const result = await runDfget(resolveDfgetConfig({ url, output, node: [new URL(sn.apiUrl).host], home: peer.homeDir, notbs: true }, cwd), { logger: createSilentLogger(), peerServerLocator: peer.locator })
  assert.equal(result.bytesFromSource, 0)
  assert.ok(result.taskId !== undefined)
  assert.equal(await waitForCdn(sn.client, result.taskId), 'success')
}

test('with a cache budget smaller than two files, three downloads all succeed and the cache stays under budget', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const files = [0, 1, 2].map((i) => createTestData(3 * MiB, 90 + i))
  const origin = stack.push(await startOrigin({ files: Object.fromEntries(files.map((data, i) => [`/f${i}.bin`, { data }])) }))
  const dir = stack.push(await createTmpDir('damselfly-budget-'))
  const budgetBytes = 5 * MiB
  const sn = stack.push(await startTestSupernode(undefined, { cacheMaxSizeBytes: budgetBytes }))
  const peer = stack.push(await startTestPeer())
  for (const [i, data] of files.entries()) {
    await download(sn, peer, origin.url(`/f${i}.bin`), join(dir.path, `out-${i}`), dir.path)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), sha256Hex(data), `download ${i}`)
    const used = await cacheBytes(sn.homeDir)
    assert.ok(used <= budgetBytes, `after download ${i} the cache holds ${used} bytes, budget ${budgetBytes}`)
  }
  const metrics = await sn.client.fetchMetricsText()
  assert.equal(metricValue(metrics, 'dragonfly_supernode_cdn_cache_evictions_total', { reason: 'size' }), 2)
  assert.equal(metricValue(metrics, 'dragonfly_supernode_cdn_cache_evicted_size_bytes_total', { reason: 'size' }), 6 * MiB)
  assert.equal(metricValue(metrics, 'dragonfly_supernode_cdn_cache_size_bytes'), 3 * MiB)
  // Evicted files are fetched again when asked for: the first file once more, still correct.
  await download(sn, peer, origin.url('/f0.bin'), join(dir.path, 'again'), dir.path)
  assert.equal(sha256Hex(await readFile(join(dir.path, 'again'))), sha256Hex(files[0] ?? Buffer.alloc(0)))
  const finalBytes = await cacheBytes(sn.homeDir)
  assert.ok(finalBytes <= budgetBytes, `after downloading the first file again the cache holds ${finalBytes} bytes: ${(await sn.client.fetchMetricsText()).split('\n').filter((l) => l.includes('evict')).join(' | ')}`)
})

test('a cache file in use is never evicted, even over budget; once released GC brings the cache under budget', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const files = [0, 1, 2].map((i) => createTestData(2 * MiB, 95 + i))
  const origin = stack.push(await startOrigin({ files: Object.fromEntries(files.map((data, i) => [`/g${i}.bin`, { data }])) }))
  const dir = stack.push(await createTmpDir('damselfly-budget-use-'))
  const sn = stack.push(await startTestSupernode(undefined, { cacheMaxSizeBytes: 3 * MiB }))
  const peer = stack.push(await startTestPeer())
  // A download that never finishes holds g0 in use.
  await sn.client.registerPeer({ peerId: 'holder', port: 4000 })
  const held = await sn.client.registerTask({ peerId: 'holder', cid: 'holder-cid', url: origin.url('/g0.bin') })
  assert.equal(await waitForCdn(sn.client, held.taskId), 'success')
  await download(sn, peer, origin.url('/g1.bin'), join(dir.path, 'out-1'), dir.path)
  await download(sn, peer, origin.url('/g2.bin'), join(dir.path, 'out-2'), dir.path)
  assert.equal((await sn.client.getTask(held.taskId)).cdnStatus, 'success', 'the task in use is still there')
  assert.ok((await stat(join(sn.homeDir, 'cdn', held.taskId.slice(0, 3), `${held.taskId}.data`))).size === 2 * MiB, 'its file is still there')
  assert.equal(metricValue(await sn.client.fetchMetricsText(), 'dragonfly_supernode_cdn_cache_evictions_total', { reason: 'size' }), 1, 'g1 made room for g2')
  // Released: the next GC run brings the cache back under budget (least recently used first:
  // the holder just left, so g2 is older and goes).
  await sn.client.deleteTask(held.taskId, 'holder-cid')
  const report = await sn.supernode.runGc()
  assert.equal(report.cacheFilesRemoved.length, 1)
  assert.notEqual(report.cacheFilesRemoved[0], held.taskId)
  assert.ok(await cacheBytes(sn.homeDir) <= 3 * MiB)
})

test('with a free-space floor, files are evicted to keep the disk\'s free space, and downloads still succeed', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const files = [0, 1, 2].map((i) => createTestData(3 * MiB, 100 + i))
  const origin = stack.push(await startOrigin({ files: Object.fromEntries(files.map((data, i) => [`/h${i}.bin`, { data }])) }))
  const dir = stack.push(await createTmpDir('damselfly-budget-free-'))
  // A small disk of 20 MiB holding only the cache; 15 MiB must stay free.
  const diskBytes = 20 * MiB
  let homeDir = ''
  const sn = stack.push(await startTestSupernode(undefined, { cacheMinFreeBytes: 15 * MiB, fetchFreeBytes: async () => diskBytes - await cacheBytes(homeDir) }))
  homeDir = sn.homeDir
  const peer = stack.push(await startTestPeer())
  for (const [i, data] of files.entries()) {
    await download(sn, peer, origin.url(`/h${i}.bin`), join(dir.path, `out-${i}`), dir.path)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), sha256Hex(data), `download ${i}`)
    assert.ok(diskBytes - await cacheBytes(sn.homeDir) >= 15 * MiB, `after download ${i} the disk keeps 15 MiB free: ${await cacheBytes(sn.homeDir)} ${await sn.client.fetchMetricsText().then((m) => m.split("\n").filter((l) => l.includes("evict")).join(" | "))}`)
  }
  const metrics = await sn.client.fetchMetricsText()
  assert.equal(metricValue(metrics, 'dragonfly_supernode_cdn_cache_evictions_total', { reason: 'free_space' }), 2)
  assert.equal(metricValue(metrics, 'dragonfly_supernode_cdn_cache_evictions_total', { reason: 'size' }), 0)
})
