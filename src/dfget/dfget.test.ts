import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { startOrigin, createTestData, sha256Hex } from '../../test/harness/origin.js'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { createSilentLogger } from '../common/log.js'
import { isCode } from '../protocol/errors.js'
import { resolveDfgetConfig, runDfget, type DfgetOptions } from './index.js'
import { PeerServer } from './uploader/peer-server.js'
import type { PeerServerLocator } from './uploader/peer-server-launcher.js'

const MiB = 1024 * 1024

/** A port where nothing listens (bound, read, closed). */
async function deadPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}

/** An origin, a temp dir and an in-process peer server handed to dfget as its locator. */
async function setup (t: import('node:test').TestContext, data: Buffer) {
  const origin = await startOrigin({ files: { '/f.bin': { data } } })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-dfget-')
  t.after(() => dir.close())
  const home = join(dir.path, 'home')
  const peer = new PeerServer({ logger: createSilentLogger() }, { homeDir: home, listenHost: '127.0.0.1', port: 0, aliveTimeMs: 60_000, expireTimeMs: 60_000, uploadRateBytesPerSec: 0 })
  await peer.start()
  t.after(() => peer.close())
  const peerServerLocator: PeerServerLocator = { locate: async () => ({ peerId: peer.peerId, port: peer.port, localUrl: peer.localUrl }) }
  const run = async (options: DfgetOptions) => await runDfget(resolveDfgetConfig({ home, ...options }, dir.path), { logger: createSilentLogger(), peerServerLocator })
  return { origin, dir: dir.path, home, run }
}

test('with no supernode reachable it completes from the source with back-source reason 1', async (t) => {
  const data = createTestData(3 * MiB + 17, 11)
  const { origin, dir, run } = await setup(t, data)
  const result = await run({ url: origin.url('/f.bin'), output: 'out.bin', node: [`127.0.0.1:${await deadPort()}`] })
  assert.equal(result.backSourceReason, 1)
  assert.equal(result.lengthBytes, data.length)
  assert.equal(result.bytesFromSource, data.length)
  assert.equal(result.bytesFromPeers + result.bytesFromSupernode, 0)
  assert.equal(sha256Hex(await readFile(join(dir, 'out.bin'))), sha256Hex(data))
  assert.deepEqual((await readdir(dir)).filter((name) => name.endsWith('.tmp')), [], 'no temp file left beside the output')
})

test('with --notbs and no supernode it fails with DF_ERR_TASK_SWARM_FAILED and writes no output', async (t) => {
  const data = createTestData(100_000, 12)
  const { origin, dir, run } = await setup(t, data)
  await assert.rejects(run({ url: origin.url('/f.bin'), output: 'out.bin', node: [`127.0.0.1:${await deadPort()}`], notbs: true }),
    (err: unknown) => isCode(err, 'DF_ERR_TASK_SWARM_FAILED'))
  assert.deepEqual((await readdir(dir)).filter((name) => name !== 'home'), [], 'no output and no temp file')
  assert.equal(origin.stats('/f.bin').requests, 0, 'the source was not touched')
})

test('a source answering 404 fails with DF_ERR_SOURCE_STATUS naming the status, and writes no output', async (t) => {
  const { origin, dir, run } = await setup(t, Buffer.alloc(1))
  await assert.rejects(run({ url: origin.url('/nope.bin'), output: 'out.bin', node: [`127.0.0.1:${await deadPort()}`] }),
    (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 404 && /404.*\/nope\.bin/.test(err.message))
  assert.deepEqual((await readdir(dir)).filter((name) => name !== 'home'), [])
})

test('pattern source downloads straight from the source (reason 100) and -o - writes to stdout', async (t) => {
  const data = createTestData(2 * MiB + 5, 13)
  const { origin, run, home } = await setup(t, data)
  const chunks: Buffer[] = []
  const stdout = new Writable({ write (chunk: Buffer, _encoding, callback) { chunks.push(chunk); callback() } })
  const result = await runDfget(resolveDfgetConfig({ home, url: origin.url('/f.bin'), output: '-', pattern: 'source' }), { logger: createSilentLogger(), stdout })
  assert.equal(result.backSourceReason, 100)
  assert.ok(Buffer.concat(chunks).equals(data))
  assert.deepEqual((await readdir(join(home, 'data'))), [], 'the stdout temp file is removed')
  const md5Bad = run({ url: origin.url('/f.bin'), output: 'x.bin', pattern: 'source', md5: '0'.repeat(32) })
  await assert.rejects(md5Bad, (err: unknown) => isCode(err, 'DF_ERR_TASK_MD5_MISMATCH'))
})
