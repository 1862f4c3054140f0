import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer } from 'node:net'
import { startOrigin, createTestData } from '../../../test/harness/origin.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { createSilentLogger } from '../../common/log.js'
import { HttpClient } from '../../common/http/client.js'
import { RateLimiter } from '../../common/rate-limiter.js'
import { isCode } from '../../protocol/errors.js'
import { SourceDownloader } from './source-downloader.js'
import { TargetWriter } from './target-writer.js'
import { TransferStats } from './transfer-stats.js'

const PIECE = 64 * 1024

async function setup (t: import('node:test').TestContext, data: Buffer, faults: Parameters<typeof startOrigin>[0] = {}) {
  const origin = await startOrigin({ files: { '/f.bin': { data } }, ...faults })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-src-')
  t.after(() => dir.close())
  const http = new HttpClient({ keepAliveTimeoutMs: 100 })
  t.after(() => http.close())
  const stats = new TransferStats()
  const source = new SourceDownloader({ http, logger: createSilentLogger(), limiter: new RateLimiter(0), stats }, { url: origin.url('/f.bin'), headers: {}, segmentBytes: 3 * PIECE })
  return { origin, dir: dir.path, http, stats, source }
}

test('back-source fetches only the missing pieces by range and keeps the verified ones', async (t) => {
  const data = createTestData(10 * PIECE + 1234, 5)
  const { origin, dir, stats, source } = await setup(t, data)
  const writer = new TargetWriter({ dataPath: join(dir, 'data'), geometry: { fileLengthBytes: data.length, pieceSizeBytes: PIECE } })
  await writer.open()
  t.after(() => writer.close())
  const held = [0, 1, 2, 5, 9]
  for (const pieceNum of held) {
    const range = writer.rangeOf(pieceNum)
    await writer.writePiece(pieceNum, data.subarray(range.start, range.end + 1))
  }
  await source.fetchMissing(writer, AbortSignal.timeout(30_000))
  assert.equal(writer.isComplete, true)
  assert.ok((await readFile(writer.dataPath)).equals(data))
  const missingBytes = data.length - held.length * PIECE
  assert.equal(origin.stats('/f.bin').bytesSent, missingBytes, 'the origin sent exactly the missing bytes')
  assert.equal(stats.bytesFromSource, missingBytes)
  assert.ok(origin.stats('/f.bin').ranges.every((r) => r !== undefined && r.startsWith('bytes=')))
})

test('a source that ignores Range is fetched whole', async (t) => {
  const data = createTestData(5 * PIECE + 3, 6)
  const { origin, dir, source } = await setup(t, data)
  origin.setFaults('/f.bin', { ignoreRange: true })
  const writer = new TargetWriter({ dataPath: join(dir, 'data'), geometry: { fileLengthBytes: data.length, pieceSizeBytes: PIECE } })
  await writer.open()
  t.after(() => writer.close())
  await writer.writePiece(0, data.subarray(0, PIECE))
  await source.fetchMissing(writer, AbortSignal.timeout(30_000))
  assert.equal(writer.isComplete, true)
  assert.ok((await readFile(writer.dataPath)).equals(data))
})

test('a connection dropped mid-range is resumed at the first incomplete piece', async (t) => {
  const data = createTestData(8 * PIECE, 7)
  const { origin, dir, source } = await setup(t, data)
  origin.setFaults('/f.bin', { dropAfterBytes: PIECE + 100, dropFirst: 1 })
  const writer = new TargetWriter({ dataPath: join(dir, 'data'), geometry: { fileLengthBytes: data.length, pieceSizeBytes: PIECE } })
  await writer.open()
  t.after(() => writer.close())
  await source.fetchMissing(writer, AbortSignal.timeout(30_000))
  assert.ok((await readFile(writer.dataPath)).equals(data))
})

test('an error status is DF_ERR_SOURCE_STATUS naming the status and the URL', async (t) => {
  const data = createTestData(1000, 8)
  const { origin, dir, http, stats } = await setup(t, data)
  const source = new SourceDownloader({ http, logger: createSilentLogger(), limiter: new RateLimiter(0), stats }, { url: origin.url('/missing.bin'), headers: {} })
  const writer = new TargetWriter({ dataPath: join(dir, 'data') })
  await writer.open()
  t.after(() => writer.close())
  await assert.rejects(source.fetchWhole(writer, AbortSignal.timeout(10_000)), (err: unknown) =>
    isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 404 && err.message.includes('404') && err.message.includes('/missing.bin'))
})

test('a refused connection is DF_ERR_SOURCE_UNREACHABLE', async (t) => {
  const { dir, http, stats } = await setup(t, Buffer.alloc(1))
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as import('node:net').AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => { resolve() }))
  const source = new SourceDownloader({ http, logger: createSilentLogger(), limiter: new RateLimiter(0), stats }, { url: `http://127.0.0.1:${port}/f`, headers: {}, attempts: 1 })
  const writer = new TargetWriter({ dataPath: join(dir, 'data') })
  await writer.open()
  t.after(() => writer.close())
  await assert.rejects(source.fetchWhole(writer, AbortSignal.timeout(10_000)), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_UNREACHABLE'))
})
