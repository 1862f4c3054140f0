import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTestData, startOrigin, type Origin } from '../../../test/harness/origin.js'
import { metricValue, startTestSupernode, waitForCdn } from '../../../test/harness/supernode.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { isCode } from '../../protocol/errors.js'
import { computePieceDigest } from '../../protocol/piece-digest.js'
import { computePieceSizeBytes, pieceCount, rangeOfPiece } from '../../protocol/piece-range.js'
import type { SupernodeClient } from '../client.js'

const MiB = 1024 * 1024

function expectedDigests (data: Buffer): string[] {
  const size = computePieceSizeBytes(data.length)
  return Array.from({ length: pieceCount(data.length, size) }, (_, pieceNum) => {
    const range = rangeOfPiece(pieceNum, size, data.length)
    return computePieceDigest(data.subarray(range.start, range.end + 1))
  })
}

async function cachedDigests (homeDir: string, taskId: string): Promise<{ digests: string[], data: Buffer }> {
  const dir = join(homeDir, 'cdn', taskId.slice(0, 3))
  const meta = JSON.parse(await readFile(join(dir, `${taskId}.meta.json`), 'utf8')) as { pieceDigests: string[], complete: boolean }
  assert.equal(meta.complete, true)
  return { digests: meta.pieceDigests, data: await readFile(join(dir, `${taskId}.data`)) }
}

async function register (client: SupernodeClient, origin: Origin, path: string, cid = 'cid-1'): Promise<Awaited<ReturnType<SupernodeClient['registerTask']>>> {
  await client.registerPeer({ peerId: 'peer-1', ip: '127.0.0.1', port: 40001 })
  return await client.registerTask({ peerId: 'peer-1', cid, url: origin.url(path) })
}

test('a ranged source is read in order with one request by default, with correct digests and once', async (t) => {
  const data = createTestData(5 * MiB + 123, 3)
  const origin = await startOrigin({ files: { '/r.bin': { data } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const task = await register(sn.client, origin, '/r.bin')
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  const cached = await cachedDigests(sn.homeDir, task.taskId)
  assert.deepEqual(cached.digests, expectedDigests(data))
  assert.ok(cached.data.equals(data))
  assert.deepEqual(origin.stats('/r.bin').ranges, ['bytes=0-0', `bytes=0-${data.length - 1}`])
})

test('with --cdn-concurrency 4 a ranged source is fetched in parallel runs of pieces with correct digests and read once', async (t) => {
  const data = createTestData(5 * MiB + 123, 3)
  const origin = await startOrigin({ files: { '/r.bin': { data } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t, { cdnConcurrency: 4 })
  const task = await register(sn.client, origin, '/r.bin')
  assert.equal(task.fileLengthBytes, data.length)
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  const cached = await cachedDigests(sn.homeDir, task.taskId)
  assert.deepEqual(cached.digests, expectedDigests(data))
  assert.ok(cached.data.equals(data))
  const ranges = origin.stats('/r.bin').ranges
  assert.equal(ranges[0], 'bytes=0-0')
  // 6 pieces, 4 workers: runs of 2 pieces, one request each (not a request per piece).
  assert.deepEqual(ranges.slice(1).sort(), [`bytes=0-${2 * MiB - 1}`, `bytes=${2 * MiB}-${4 * MiB - 1}`, `bytes=${4 * MiB}-${data.length - 1}`], 'runs of pieces are fetched with their own ranges')
  assert.ok(origin.readRatio('/r.bin') <= 1.05)
  const metrics = await sn.client.fetchMetricsText()
  assert.equal(metricValue(metrics, 'dragonfly_supernode_cdn_download_size_bytes_total'), data.length + 1)
})

test('a source that ignores Range is cut into pieces from one stream with the same digests', async (t) => {
  const data = createTestData(3 * MiB + 7, 4)
  const origin = await startOrigin({ files: { '/s.bin': { data, faults: { ignoreRange: true } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const task = await register(sn.client, origin, '/s.bin')
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  assert.deepEqual((await cachedDigests(sn.homeDir, task.taskId)).digests, expectedDigests(data))
  assert.equal(origin.stats('/s.bin').requests, 1)
  assert.ok(origin.readRatio('/s.bin') <= 1.05)
})

test('a source without a length is cached whole before the registration answers', async (t) => {
  const data = createTestData(2 * MiB + 5, 5)
  const origin = await startOrigin({ files: { '/c.bin': { data, faults: { ignoreRange: true, chunked: true } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const task = await register(sn.client, origin, '/c.bin')
  assert.equal(task.fileLengthBytes, data.length)
  assert.equal(task.pieceCount, 3)
  assert.deepEqual((await cachedDigests(sn.homeDir, task.taskId)).digests, expectedDigests(data))
})

test('a dropped connection is resumed and the piece digests stay right', async (t) => {
  const data = createTestData(4 * MiB, 6)
  const origin = await startOrigin({ files: { '/d.bin': { data, faults: { dropAfterBytes: 300 * 1024, dropFirst: 3 } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const task = await register(sn.client, origin, '/d.bin')
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  assert.deepEqual((await cachedDigests(sn.homeDir, task.taskId)).digests, expectedDigests(data))
  assert.ok(origin.readRatio('/d.bin') <= 1.05, `read ratio ${origin.readRatio('/d.bin')}`)
})

test('a source answering 404 fails the registration with DF_ERR_SOURCE_STATUS naming the status', async (t) => {
  const origin = await startOrigin({ files: { '/x.bin': { data: createTestData(1000), faults: { status: 404 } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await assert.rejects(register(sn.client, origin, '/x.bin'), (err: unknown) =>
    isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 404 && err.message.includes('404') && err.remote?.status === 502)
  await assert.rejects(register(sn.client, origin, '/missing.bin'), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS'))
})

test('an unreachable source fails the registration with DF_ERR_SOURCE_UNREACHABLE', async (t) => {
  const origin = await startOrigin()
  const url = origin.url('/gone.bin')
  await origin.close()
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'peer-1', ip: '127.0.0.1', port: 40001 })
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-1', cid: 'c', url }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_UNREACHABLE'))
})

test('a source failing mid-download fails the task and every pull hears DF_ERR_TASK_FAILED', async (t) => {
  const data = createTestData(8 * MiB, 7)
  const origin = await startOrigin({ files: { '/f.bin': { data, faults: { throttleBytesPerSec: 8 * MiB } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const task = await register(sn.client, origin, '/f.bin')
  origin.setFaults('/f.bin', { status: 500 })
  await assert.rejects(async () => {
    for (;;) await sn.client.pullPieceTasks(task.taskId, { cid: 'cid-1', max: 64, waitMs: 5_000 })
  }, (err: unknown) => isCode(err, 'DF_ERR_TASK_FAILED') && err.message.includes('500'))
  assert.equal(await waitForCdn(sn.client, task.taskId), 'failed')
  // A new registration retries the source.
  origin.setFaults('/f.bin', undefined)
  const again = await register(sn.client, origin, '/f.bin', 'cid-2')
  assert.equal(again.cdnStatus, 'running')
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
})

test('after a restart the cache is revalidated and reused, and refetched when the file changed', async (t) => {
  const data = createTestData(3 * MiB, 8)
  const origin = await startOrigin({ files: { '/v.bin': { data } } })
  t.after(() => origin.close())
  const home = await createTmpDir()
  t.after(() => home.close())

  const first = await startTestSupernode(t, { homeDir: home.path })
  const task = await register(first.client, origin, '/v.bin')
  assert.equal(await waitForCdn(first.client, task.taskId), 'success')
  await first.close()

  origin.resetStats()
  const second = await startTestSupernode(t, { homeDir: home.path })
  const reused = await register(second.client, origin, '/v.bin')
  assert.equal(reused.cdnStatus === 'success' || reused.cdnStatus === 'running', true)
  assert.equal(origin.stats('/v.bin').bytesSent, 0)
  assert.equal(metricValue(await second.client.fetchMetricsText(), 'dragonfly_supernode_cdn_cache_hit_total'), 1)
  const pull = await second.client.pullPieceTasks(task.taskId, { cid: 'cid-1', max: 8 })
  assert.equal(pull.result, 'pieces')
  await second.close()

  const changed = createTestData(3 * MiB + 100, 9)
  origin.setFile('/v.bin', { data: changed })
  origin.resetStats()
  const third = await startTestSupernode(t, { homeDir: home.path })
  const refetched = await register(third.client, origin, '/v.bin')
  assert.equal(refetched.fileLengthBytes, changed.length)
  assert.equal(await waitForCdn(third.client, task.taskId), 'success')
  assert.deepEqual((await cachedDigests(home.path, task.taskId)).digests, expectedDigests(changed))
  assert.equal(metricValue(await third.client.fetchMetricsText(), 'dragonfly_supernode_cdn_cache_hit_total'), 0)
})

test('the source gets the registration headers, and the cache metadata keeps no query secrets', async (t) => {
  const data = createTestData(MiB, 10)
  const origin = await startOrigin({ files: { '/a.bin': { data, requireAuthorization: 'Bearer s3cret' } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'peer-1', ip: '127.0.0.1', port: 40001 })
  const task = await sn.client.registerTask({ peerId: 'peer-1', cid: 'c', url: `${origin.url('/a.bin')}?sig=topsecret`, headers: { Authorization: 'Bearer s3cret' } })
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  const meta = await readFile(join(sn.homeDir, 'cdn', task.taskId.slice(0, 3), `${task.taskId}.meta.json`), 'utf8')
  assert.ok(!meta.includes('topsecret'))
  assert.ok(!meta.includes('s3cret'))
})

test('a task identified by its digest is cached only if the source\'s bytes are that content (ranged, whole-stream and unknown-length sources)', async (t) => {
  const data = createTestData(3 * MiB + 77, 17)
  const right = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const wrong = `sha256:${createHash('sha256').update('other content').digest('hex')}`
  const origin = await startOrigin({ files: { '/ranged.bin': { data }, '/whole.bin': { data, faults: { ignoreRange: true } }, '/chunked.bin': { data, faults: { chunked: true, ignoreRange: true } } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'peer-1', ip: '127.0.0.1', port: 40001 })
  // One digest is one task, read from the source of the registration that (re)starts it: the
  // task goes between sources, so each kind of source is the one read.
  for (const path of ['/ranged.bin', '/whole.bin', '/chunked.bin']) {
    const bad = await sn.client.registerTask({ peerId: 'peer-1', cid: `bad${path.slice(1)}`, url: origin.url(path), digest: wrong }).then((task) => task, (err: unknown) => err)
    if (path === '/chunked.bin') {
      // No length: the registration answers once the whole file is read, and so fails with it.
      assert.ok(isCode(bad, 'DF_ERR_TASK_DIGEST_MISMATCH'), `${path}: ${String(bad)}`)
    } else {
      assert.ok(!(bad instanceof Error), `${path}: ${String(bad)}`)
      const task = bad as Awaited<ReturnType<SupernodeClient['registerTask']>>
      assert.equal(await waitForCdn(sn.client, task.taskId), 'failed', `${path}: wrong digest`)
      const info = await sn.client.getTask(task.taskId)
      assert.ok(info.cachedPieces < info.pieceCount || info.pieceCount === 0, `${path}: the last piece was never handed out`)
      await assert.rejects(readFile(join(sn.homeDir, 'cdn', task.taskId.slice(0, 3), `${task.taskId}.data`)), { code: 'ENOENT' }, `${path}: nothing cached`)
    }
    const good = await sn.client.registerTask({ peerId: 'peer-1', cid: `good${path.slice(1)}`, url: origin.url(path), digest: right })
    assert.equal(await waitForCdn(sn.client, good.taskId), 'success', `${path}: right digest`)
    assert.ok((await cachedDigests(sn.homeDir, good.taskId)).data.equals(data))
    await sn.client.deleteTask(good.taskId)
  }
})
