/**
 * Stream mode in one process: an origin, a real supernode and real peer servers on loopback,
 * and `runDfgetStream()` as dfdaemon calls it. The streams are read like a pipe reader
 * would; bytes, codes and where the bytes came from are asserted.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { startOrigin, createTestData, sha256Hex } from './harness/origin.js'
import { startTestSupernode } from './harness/supernode.js'
import { startTestPeer } from './harness/peer.js'
import { CloseStack } from '../src/common/lifecycle.js'
import { createSilentLogger } from '../src/common/log.js'
import { isCode } from '../src/protocol/errors.js'
import { resolveDfgetConfig, runDfgetStream, type DfgetOptions } from '../src/dfget/index.js'
import type { TestPeer } from './harness/peer.js'

const MiB = 1024 * 1024

/** Reads a body to the end: its sha256 and byte count (nothing kept in memory). */
async function digestOf (body: Readable): Promise<{ sha256: string, bytes: number }> {
  const hash = createHash('sha256')
  let bytes = 0
  await pipeline(body, new Writable({ write (chunk: Buffer, _encoding, callback) { hash.update(chunk); bytes += chunk.length; callback() } }))
  return { sha256: hash.digest('hex'), bytes }
}

async function startStream (peer: TestPeer, options: DfgetOptions, signal?: AbortSignal) {
  const config = resolveDfgetConfig({ home: peer.homeDir, output: '-', stream: true, ...options })
  return await runDfgetStream(config, { logger: createSilentLogger(), peerServerLocator: peer.locator, ...(signal === undefined ? {} : { signal }) })
}

test('4 streams of one file started together: every stream is the file, and the streamers feed each other', async (t) => {
  const data = createTestData(24 * MiB + 333, 31)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/s.bin': { data } } }))
  const sn = stack.push(await startTestSupernode())
  const peers = await Promise.all(Array.from({ length: 4 }, async () => stack.push(await startTestPeer())))
  const node = [new URL(sn.apiUrl).host]
  const streams = await Promise.all(peers.map(async (peer) => await startStream(peer, { url: origin.url('/s.bin'), node: [...node], window: '8' })))
  const digests = await Promise.all(streams.map(async (stream) => await digestOf(stream.body)))
  const results = await Promise.all(streams.map(async (stream) => await stream.result))
  let fromSupernode = 0
  let fromPeers = 0
  for (const [i, digest] of digests.entries()) {
    assert.equal(digest.sha256, sha256Hex(data), `stream ${i} differs from the source`)
    assert.equal(streams[i]?.lengthBytes, data.length)
    fromSupernode += results[i]?.bytesFromSupernode ?? 0
    fromPeers += results[i]?.bytesFromPeers ?? 0
  }
  assert.equal(fromSupernode + fromPeers, 4 * data.length, 'every byte came through the swarm')
  assert.ok(fromSupernode <= 0.75 * 4 * data.length, `the supernode sent ${fromSupernode} of ${4 * data.length} bytes`)
  for (const peer of peers) assert.equal(peer.server.streamStoreBytes, 0, 'every stream store is closed at the end')
})

test('a reader that pauses gets the whole stream, and the window bounds what waits for it', async (t) => {
  const data = createTestData(12 * MiB, 32)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/p.bin': { data } } }))
  const sn = stack.push(await startTestSupernode())
  const peer = stack.push(await startTestPeer())
  const stream = await startStream(peer, { url: origin.url('/p.bin'), node: [new URL(sn.apiUrl).host], window: '4' })
  const first = await new Promise<Buffer>((resolve) => { stream.body.once('readable', () => { resolve(stream.body.read(MiB) as Buffer) }) })
  // Paused: poll until the download stops moving; it must stop within the window.
  const deadline = Date.now() + 10_000
  let held = -1
  for (;;) {
    const now = peer.server.streamStoreBytes
    if (now === held || Date.now() > deadline) break
    held = now
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  assert.ok(held <= (4 + 4) * MiB, `the peer server holds ${held} bytes for a window of 4 pieces`)
  assert.ok(origin.stats('/p.bin').bytesSent >= data.length, 'the CDN fetched the file meanwhile')
  const rest = await digestOf(stream.body)
  assert.ok(first.equals(data.subarray(0, MiB)))
  assert.equal(rest.bytes + first.length, data.length)
  const result = await stream.result
  assert.equal(result.lengthBytes, data.length)
})

test('with the swarm failing and --notbs the stream errors with DF_ERR_TASK_SWARM_FAILED; without --notbs it completes from the source', async (t) => {
  const data = createTestData(6 * MiB + 7, 33)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data } } }))
  const sn = stack.push(await startTestSupernode())
  const peer = stack.push(await startTestPeer())
  const node = [new URL(sn.apiUrl).host]
  const ok = await startStream(peer, { url: origin.url('/f.bin'), node, window: '4' })
  assert.equal((await digestOf(ok.body)).sha256, sha256Hex(data))
  const refused = await startStream(peer, { url: origin.url('/f.bin'), node: ['127.0.0.1:1'], notbs: true }).then(
    () => assert.fail('registration cannot succeed'), (err: unknown) => err)
  assert.ok(isCode(refused, 'DF_ERR_TASK_SWARM_FAILED'), String(refused))
  const fromSource = await startStream(peer, { url: origin.url('/f.bin'), node: ['127.0.0.1:1'] })
  assert.equal(fromSource.lengthBytes, data.length)
  assert.equal((await digestOf(fromSource.body)).sha256, sha256Hex(data))
  assert.equal((await fromSource.result).backSourceReason, 1)
})

test('a wrong content digest errors the stream with DF_ERR_TASK_DIGEST_MISMATCH instead of ending it', async (t) => {
  const data = createTestData(3 * MiB, 34)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/d.bin': { data } } }))
  const sn = stack.push(await startTestSupernode())
  const peer = stack.push(await startTestPeer())
  const node = [new URL(sn.apiUrl).host]
  const right = await startStream(peer, { url: origin.url('/d.bin'), node, digest: `sha256:${sha256Hex(data)}` })
  assert.equal((await digestOf(right.body)).sha256, sha256Hex(data))
  assert.equal((await right.result).taskId?.length, 64)
  const wrong = await startStream(peer, { url: origin.url('/d.bin'), node, digest: `sha256:${'0'.repeat(64)}` })
  await assert.rejects(digestOf(wrong.body), (err: unknown) => isCode(err, 'DF_ERR_TASK_DIGEST_MISMATCH'))
  await assert.rejects(wrong.result, (err: unknown) => isCode(err, 'DF_ERR_TASK_DIGEST_MISMATCH'))
})

test('a supernode lost mid-stream: the rest comes from the source by range; with --notbs the stream errors instead of ending', async (t) => {
  const data = createTestData(16 * MiB + 99, 35)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/m.bin': { data } } }))
  const peer = stack.push(await startTestPeer())
  for (const notbs of [false, true]) {
    const sn = await startTestSupernode()
    stack.push(sn)
    const stream = await startStream(peer, { url: origin.url('/m.bin'), node: [new URL(sn.apiUrl).host], window: '2', notbs, stalltimeout: '5s' })
    // The reader holds the first bytes back while the supernode goes away.
    const first = await new Promise<Buffer>((resolve) => { stream.body.once('readable', () => { resolve(stream.body.read(64 * 1024) as Buffer) }) })
    await sn.close()
    origin.resetStats()
    if (notbs) {
      await assert.rejects(digestOf(stream.body), (err: unknown) => isCode(err, 'DF_ERR_TASK_SWARM_FAILED'))
      await assert.rejects(stream.result, (err: unknown) => isCode(err, 'DF_ERR_TASK_SWARM_FAILED'))
      assert.equal(origin.stats('/m.bin').requests, 0, 'the source was not touched')
    } else {
      const hash = createHash('sha256').update(first)
      const rest = await new Promise<Buffer[]>((resolve, reject) => {
        const chunks: Buffer[] = []
        stream.body.on('data', (chunk: Buffer) => { chunks.push(chunk) }).once('end', () => { resolve(chunks) }).once('error', reject)
      })
      for (const chunk of rest) hash.update(chunk)
      assert.equal(hash.digest('hex'), sha256Hex(data))
      const result = await stream.result
      assert.equal(result.backSourceReasonName, 'supernodeLost')
      assert.ok(result.bytesFromSource > 0 && result.bytesFromSource < data.length, `${result.bytesFromSource} bytes from the source`)
      assert.ok(origin.stats('/m.bin').ranges.every((range) => range !== undefined), 'only ranges of the missing pieces')
    }
  }
})
