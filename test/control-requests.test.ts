/**
 * Control protocol v2 keeps the supernode's requests per host about constant per file
 * (docs/protocol.md): a real supernode, six hosts (real peer servers) and their dfgets in
 * one process over loopback sockets, counted by the supernode's own request metric
 * (`dragonfly_supernode_api_requests_total`). The same swarm with twice the pieces (twice
 * the file at the same piece size: the effect of halving the piece size) must not cost
 * more requests per host.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startOrigin, createTestData, sha256Hex } from './harness/origin.js'
import { startTestSupernode } from './harness/supernode.js'
import { startTestPeer } from './harness/peer.js'
import { createTmpDir } from './harness/tmp-dir.js'
import { createSilentLogger } from '../src/common/log.js'
import { resolveDfgetConfig, runDfget } from '../src/dfget/index.js'
import { CONTROL_PROTOCOL_ENV } from '../src/dfget/downloader/piece-loop-runner.js'

// This file measures control protocol v2, which new clients speak when asked (it is opt-in).
process.env[CONTROL_PROTOCOL_ENV] = 'v2'

const MiB = 1024 * 1024
const HOSTS = 6

/** The supernode's API requests so far (both versions together), and the syncs it answered with a digest batch. */
function countRequests (metricsText: string): { requests: number, digestBatches: number } {
  let requests = 0
  for (const match of metricsText.matchAll(/^dragonfly_supernode_api_requests_total\{version="v\d"\} (\d+)/gm)) requests += Number(match[1])
  const digestBatches = Number(/^dragonfly_supernode_sync_answers_total\{why="digests"\} (\d+)/m.exec(metricsText)?.[1] ?? 0)
  return { requests, digestBatches }
}

/** One swarm of HOSTS hosts fetching a file of `pieces` 1 MiB pieces; the supernode requests per host (all, and the digest batches among them) and the bytes from peers. */
async function runSwarm (t: TestContext, pieces: number, seed: number): Promise<{ perHost: number, digestBatchesPerHost: number, bytesFromPeers: number }> {
  const data = createTestData(pieces * MiB - 17, seed)
  const origin = await startOrigin({ files: { '/model.bin': { data } } })
  t.after(() => origin.close())
  const supernode = await startTestSupernode(t)
  const out = await createTmpDir('damselfly-out-')
  t.after(() => out.close())
  const peers = await Promise.all(Array.from({ length: HOSTS }, async () => await startTestPeer(t)))
  const before = countRequests(await supernode.client.fetchMetricsText())
  const node = [new URL(supernode.apiUrl).host]
  const results = await Promise.all(peers.map(async (peer, i) => await runDfget(
    resolveDfgetConfig({ url: origin.url('/model.bin'), output: join(out.path, `model-${i}.bin`), node, home: peer.homeDir, notbs: true }),
    { logger: createSilentLogger(), peerServerLocator: peer.locator })))
  // The metrics request itself is counted after it is answered: read it, then count.
  const after = countRequests(await supernode.client.fetchMetricsText())
  for (const [i, result] of results.entries()) {
    assert.equal(sha256Hex(await readFile(join(out.path, `model-${i}.bin`))), sha256Hex(data))
    assert.equal(result.bytesFromSource, 0)
  }
  assert.ok(origin.readRatio('/model.bin') <= 1.05, `origin read ${origin.readRatio('/model.bin')}×`)
  return {
    perHost: (after.requests - before.requests) / HOSTS,
    digestBatchesPerHost: (after.digestBatches - before.digestBatches) / HOSTS,
    bytesFromPeers: results.reduce((sum, result) => sum + result.bytesFromPeers, 0),
  }
}

test('six hosts make a few supernode requests each, and twice the pieces cost no more', async (t) => {
  const small = await runSwarm(t, 24, 41)
  const large = await runSwarm(t, 48, 42)
  t.diagnostic(`supernode requests per host: ${small.perHost.toFixed(1)} for 24 pieces (${small.digestBatchesPerHost.toFixed(1)} digest batches), ${large.perHost.toFixed(1)} for 48 pieces (${large.digestBatchesPerHost.toFixed(1)})`)
  // Registration (2), the first sync, the digest batches while the CDN fills (cold here),
  // the fill batches, the milestones, the final sync and the long-poll it replaced. The
  // limit is issue 17's: at most 20 control requests per host (about 16-18 measured).
  assert.ok(small.perHost <= 20, `${small.perHost} requests per host for 24 pieces`)
  assert.ok(large.perHost <= 20, `${large.perHost} requests per host for 48 pieces`)
  // Digest batches grow with what a host knows, up to an eighth of the file: about 12 at
  // most whatever the pieces (docs/protocol.md; up to 11.8 measured on a loaded machine, a
  // piece at a time would be 24 and 48). A small file has fewer when the CDN fills it faster
  // than a long-poll goes round, so the two runs are compared without them.
  assert.ok(small.digestBatchesPerHost <= 14 && large.digestBatchesPerHost <= 14, `${small.digestBatchesPerHost} and ${large.digestBatchesPerHost} digest batches per host`)
  const otherSmall = small.perHost - small.digestBatchesPerHost
  const otherLarge = large.perHost - large.digestBatchesPerHost
  assert.ok(otherLarge <= otherSmall + 1, `${otherLarge} other requests per host for 48 pieces vs ${otherSmall} for 24`)
  // The hosts traded pieces among themselves: the supernode did not serve everything.
  assert.ok(large.bytesFromPeers > 0, 'peers served each other')
})
