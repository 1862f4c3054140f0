/**
 * dfdaemon's one way to the registry: when the swarm cannot deliver a blob, the proxy itself
 * reads it from the registry (with the registry's TLS settings, counted in
 * dragonfly_dfdaemon_back_source_total) — the dfget it runs in process never reads the
 * registry on its own. Real parts: a docker-registry, a supernode, dfdaemon with its
 * DfgetStreamFetcher and the host's peer server.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { createLogger } from '../src/common/log.js'
import { CloseStack } from '../src/common/lifecycle.js'
import type { DfgetConfig, DfgetResult } from '../src/dfget/index.js'
import { buildTestImage, pushImage } from './harness/oci-image.js'
import { startTestPeer } from './harness/peer.js'
import { startSwarmDfdaemon } from './harness/swarm-dfdaemon.js'
import { startRegistry } from './harness/registry.js'
import { metricValue, startTestSupernode } from './harness/supernode.js'
import { createTmpDir } from './harness/tmp-dir.js'

const MiB = 1024 * 1024

test('a supernode that may not read the registry: the blob comes whole from the registry through dfdaemon\'s own fallback, counted; dfget runs without back-source', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-dfdaemon-fallback-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const image = buildTestImage([2 * MiB + 5], 91)
  await pushImage(registry.baseUrl, 'denied/app', '1', image)
  // The registry is on loopback, which this supernode's source policy denies.
  const sn = stack.push(await startTestSupernode(undefined, { sourceDeny: ['127.0.0.0/8'] }))
  const peer = stack.push(await startTestPeer())
  const results: DfgetResult[] = []
  const configs: DfgetConfig[] = []
  const dfdaemon = stack.push(await startSwarmDfdaemon({
    peer,
    registryUrl: registry.baseUrl,
    nodes: [new URL(sn.apiUrl).host],
    prefetch: false,
    onRun: (config) => { configs.push(config) },
    onResult: (result) => { results.push(result) },
  }))

  const layer = image.layers[0]!
  const response = await fetch(`${dfdaemon.baseUrl}/v2/denied/app/blobs/${layer.digest}`)
  assert.equal(response.status, 200)
  assert.ok(Buffer.from(await response.arrayBuffer()).equals(layer.data), 'the blob is whole')
  const metrics = (await dfdaemon.metrics.render()).text
  assert.equal(metricValue(metrics, 'dragonfly_dfdaemon_back_source_total', { stage: 'start' }) + metricValue(metrics, 'dragonfly_dfdaemon_back_source_total', { stage: 'continue' }), 1, 'dfdaemon fell back once')
  // dfget was asked and did not read the registry on its own (it would have reported a result).
  assert.deepEqual(configs.map((config) => config.backSourceAllowed), [false])
  assert.deepEqual(results, [])
  assert.equal(registry.requests(`/blobs/${layer.digest}`, 'GET'), 1, 'the registry was read once, by dfdaemon')
})

test('the supernode down and back-source allowed: the log names the real reason (no supernode answered), not --notbs', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-dfdaemon-reason-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const image = buildTestImage([256 * 1024 + 3], 92)
  await pushImage(registry.baseUrl, 'down/app', '1', image)
  // A port that was just free: nothing answers there.
  const closed = await freePort()
  const peer = stack.push(await startTestPeer())
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => { lines.push(line) } } })
  const dfdaemon = stack.push(await startSwarmDfdaemon({ peer, registryUrl: registry.baseUrl, nodes: [`127.0.0.1:${closed}`], prefetch: false, logger }))

  const layer = image.layers[0]!
  const response = await fetch(`${dfdaemon.baseUrl}/v2/down/app/blobs/${layer.digest}`)
  assert.equal(response.status, 200)
  assert.ok(Buffer.from(await response.arrayBuffer()).equals(layer.data), 'the blob is whole, from the registry')
  const records = lines.map((line) => JSON.parse(line) as { msg: string, reason?: { code?: string, message: string }, err?: unknown })
  const fallback = records.filter((r) => r.msg === 'swarm cannot deliver: fetching from the source')
  assert.equal(fallback.length, 1, lines.join(''))
  const logged = JSON.stringify(fallback[0])
  assert.ok(!logged.includes('--notbs') && !/forbidden/i.test(logged), `the log blames --notbs: ${logged}`)
  assert.equal(fallback[0]?.reason?.code, 'DF_ERR_NETWORK', logged)
  assert.match(fallback[0]?.reason?.message ?? '', new RegExp(`127\\.0\\.0\\.1:${closed}`), 'the reason names the supernode that did not answer')
})

/** A loopback port that was free a moment ago. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}
