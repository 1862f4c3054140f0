import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startOrigin, createTestData, sha256Hex } from '../../../test/harness/origin.js'
import { startTestSupernode } from '../../../test/harness/supernode.js'
import { startTestPeer } from '../../../test/harness/peer.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { createLogger, createSilentLogger } from '../../common/log.js'
import { resolveDfgetConfig, runDfget } from '../index.js'
import { dataFilePath, createHomeLayout } from '../home-layout.js'

const MiB = 1024 * 1024

test('one dfget downloads a file through a real supernode, every byte from the supernode', async (t) => {
  const data = createTestData(5 * MiB + 123, 31)
  const origin = await startOrigin({ files: { '/f.bin': { data } } })
  t.after(() => origin.close())
  const supernode = await startTestSupernode(t)
  const peer = await startTestPeer(t)
  const out = await createTmpDir('damselfly-out-')
  t.after(() => out.close())
  const config = resolveDfgetConfig({ url: origin.url('/f.bin'), output: join(out.path, 'f.bin'), node: [new URL(supernode.apiUrl).host], home: peer.homeDir, notbs: true })
  const result = await runDfget(config, { logger: createSilentLogger(), peerServerLocator: peer.locator })
  assert.equal(sha256Hex(await readFile(join(out.path, 'f.bin'))), sha256Hex(data))
  assert.equal(result.backSourceReason, 0)
  assert.equal(result.bytesFromSupernode, data.length)
  assert.equal(result.bytesFromSource, 0)
  assert.ok(result.taskId !== undefined)
  // The data file stays served by the host's peer server.
  const served = await readFile(dataFilePath(createHomeLayout(peer.homeDir), result.taskId, result.cid))
  assert.equal(sha256Hex(served), sha256Hex(data))
  assert.ok(origin.readRatio('/f.bin') <= 1.05, `origin read ${origin.readRatio('/f.bin')}×`)
})

test('three dfgets of three hosts at once all get the file and the origin is read about once', async (t) => {
  const data = createTestData(12 * MiB + 7, 32)
  const origin = await startOrigin({ files: { '/g.bin': { data } } })
  t.after(() => origin.close())
  const supernode = await startTestSupernode(t)
  const out = await createTmpDir('damselfly-out-')
  t.after(() => out.close())
  const peers = await Promise.all([0, 1, 2].map(async () => await startTestPeer(t)))
  const results = await Promise.all(peers.map(async (peer, i) => await runDfget(
    resolveDfgetConfig({ url: origin.url('/g.bin'), output: join(out.path, `g-${i}.bin`), node: [new URL(supernode.apiUrl).host], home: peer.homeDir, notbs: true }),
    { logger: createSilentLogger(), peerServerLocator: peer.locator })))
  for (const [i, result] of results.entries()) {
    assert.equal(sha256Hex(await readFile(join(out.path, `g-${i}.bin`))), sha256Hex(data))
    assert.equal(result.bytesFromPeers + result.bytesFromSupernode, data.length)
  }
  assert.ok(origin.readRatio('/g.bin') <= 1.05, `origin read ${origin.readRatio('/g.bin')}×`)
})

test('a peer serving corrupt pieces is detected by digest, reported, and never written', async (t) => {
  const data = createTestData(4 * MiB, 33)
  const origin = await startOrigin({ files: { '/h.bin': { data } } })
  t.after(() => origin.close())
  const supernode = await startTestSupernode(t)
  const out = await createTmpDir('damselfly-out-')
  t.after(() => out.close())
  const node = [new URL(supernode.apiUrl).host]
  const liar = await startTestPeer(t)
  const first = await runDfget(resolveDfgetConfig({ url: origin.url('/h.bin'), output: join(out.path, 'liar.bin'), node, home: liar.homeDir, notbs: true }),
    { logger: createSilentLogger(), peerServerLocator: liar.locator })
  // The liar's host now serves garbage of the right length for every piece.
  await writeFile(dataFilePath(createHomeLayout(liar.homeDir), first.taskId ?? '', first.cid), Buffer.alloc(data.length, 0x5a))

  const records: Record<string, unknown>[] = []
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => { records.push(JSON.parse(line) as Record<string, unknown>) } } })
  const honest = await startTestPeer(t)
  const result = await runDfget(resolveDfgetConfig({ url: origin.url('/h.bin'), output: join(out.path, 'honest.bin'), node, home: honest.homeDir, notbs: true }),
    { logger, peerServerLocator: honest.locator })
  assert.equal(sha256Hex(await readFile(join(out.path, 'honest.bin'))), sha256Hex(data))
  const mismatches = records.filter((r) => r.code === 'DF_ERR_PIECE_DIGEST_MISMATCH')
  assert.ok(mismatches.length > 0, 'the corrupt pieces were detected')
  assert.ok(mismatches.every((r) => r.sourcePeerId === liar.server.peerId), 'the liar is named as the source at fault')
  assert.equal(result.bytesFromPeers, 0)
  assert.equal(result.bytesFromSupernode, data.length)
  const metrics = await supernode.client.fetchMetricsText()
  assert.match(metrics, /dragonfly_supernode_piece_reports_total\{source="peer",result="failed"\} [1-9]/)
})
