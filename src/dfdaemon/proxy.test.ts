import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { ProxyAgent, request as undiciRequest } from 'undici'
import { createTmpDir } from '../../test/harness/tmp-dir.js'
import { startRegistry, REGISTRY_PASSWORD, type StartedRegistry } from '../../test/harness/registry.js'
import { buildTestImage, pushImage, type TestImage } from '../../test/harness/oci-image.js'
import { SourceP2pFetcher } from '../../test/harness/source-p2p-fetcher.js'
import { sha256Hex, startOrigin, createTestData } from '../../test/harness/origin.js'
import { resolveDfdaemonConfig, type DfdaemonOptions } from './config.js'
import { Dfdaemon } from './dfdaemon.js'
import { BufferPool } from '../common/buffer-pool.js'

const MiB = 1024 * 1024

interface Started { dfdaemon: Dfdaemon, fetcher: SourceP2pFetcher, logs: () => string }

async function startDfdaemon (t: TestContext, options: DfdaemonOptions): Promise<Started> {
  const home = await createTmpDir('dfdaemon-home-')
  t.after(() => home.close())
  let text = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, cb) { text += chunk.toString(); cb() } })
  const logger = pino({ level: 'debug', redact: { paths: ['headers.authorization'], censor: '[redacted]' } }, sink)
  const fetcher = new SourceP2pFetcher()
  const dfdaemon = new Dfdaemon({ logger, createFetcher: () => fetcher }, resolveDfdaemonConfig({ port: 0, homeDir: home.path, ...options }))
  await dfdaemon.start()
  t.after(() => dfdaemon.close())
  return { dfdaemon, fetcher, logs: () => text }
}

async function registryWithImage (t: TestContext, auth = false): Promise<{ registry: StartedRegistry, image: TestImage }> {
  const dir = await createTmpDir('dfdaemon-registry-')
  t.after(() => dir.close())
  const registry = await startRegistry(dir.path, { auth })
  t.after(() => registry.close())
  const image = buildTestImage([MiB + 7, 3 * MiB])
  await pushImage(registry.baseUrl, 'test/img', '1', image, auth ? registry.authorization : undefined)
  return { registry, image }
}

async function get (url: string, headers: Record<string, string> = {}): Promise<{ status: number, body: Buffer, headers: Record<string, unknown> }> {
  const response = await undiciRequest(url, { headers })
  const body = Buffer.from(await response.body.arrayBuffer())
  return { status: response.statusCode, body, headers: response.headers }
}

const metric = async (dfdaemon: Dfdaemon, name: string, label = ''): Promise<number> => {
  const { text } = await dfdaemon.metrics.render()
  return text.split('\n').filter((l) => l.startsWith(name) && l.includes(label)).reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
}

test('as a registry mirror it passes /v2/ and manifests through and serves blobs through the swarm by digest', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { registryUrl: registry.baseUrl })
  const ping = await get(`${dfdaemon.baseUrl}/v2/`)
  assert.equal(ping.status, 200)
  assert.equal(ping.headers['docker-distribution-api-version'], 'registry/2.0')
  const manifest = await get(`${dfdaemon.baseUrl}/v2/test/img/manifests/1`, { accept: image.manifest.mediaType })
  assert.equal(manifest.status, 200)
  assert.equal(manifest.body.toString(), image.manifest.data.toString())
  for (const layer of image.layers) {
    const blob = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
    assert.equal(blob.status, 200)
    assert.equal(`sha256:${sha256Hex(blob.body)}`, layer.digest)
    assert.equal(blob.headers['docker-content-digest'], layer.digest)
  }
  assert.deepEqual(fetcher.requests.map((r) => r.digest), image.layers.map((l) => l.digest))
  assert.ok(fetcher.requests.every((r) => r.url.startsWith(registry.baseUrl)))
  assert.deepEqual(fetcher.prefetches.map((p) => p.url), [`${registry.baseUrl}/v2/test/img/manifests/1`], 'the image manifest passing through asked for a prefetch')
  assert.ok(fetcher.prefetches[0]?.manifest?.equals(image.manifest.data), 'with the manifest\'s bytes as they passed')
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_requests_total', 'blob_swarm'), 2)
  const missing = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/sha256:${'0'.repeat(64)}`)
  assert.equal(missing.status, 404, 'a blob the registry lacks answers the registry\'s 404')
  assert.equal(JSON.parse(missing.body.toString()).errors[0].code, 'BLOB_UNKNOWN')
})

test('the swarm\'s pooled pieces go back to their pool once dfdaemon wrote them to the engine', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { registryUrl: registry.baseUrl })
  const pool = new BufferPool({ maxIdleBytes: 64 * MiB })
  fetcher.pool = pool
  let bytes = 0
  for (const layer of image.layers) {
    const blob = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
    assert.equal(`sha256:${sha256Hex(blob.body)}`, layer.digest)
    bytes += blob.body.length
  }
  assert.ok(pool.idleBytes > 0, 'pieces came back to the pool')
  assert.ok(pool.allocatedBytes < bytes / 2, `the pool reused its buffers: ${pool.allocatedBytes} bytes allocated for ${bytes} served`)
})

test('containerd\'s ns= names the upstream; without ns= or --registry the answer is DF_ERR_PROXY_NO_UPSTREAM', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { nsScheme: 'http' })
  const layer = image.layers[0]!
  const blob = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}?ns=${encodeURIComponent(registry.host)}`)
  assert.equal(blob.status, 200)
  assert.equal(`sha256:${sha256Hex(blob.body)}`, layer.digest)
  assert.equal(fetcher.requests[0]?.url, `${registry.baseUrl}/v2/test/img/blobs/${layer.digest}`, 'ns= is not sent upstream')
  const none = await get(`${dfdaemon.baseUrl}/v2/test/img/manifests/1`)
  assert.equal(none.status, 502)
  assert.equal(JSON.parse(none.body.toString()).code, 'DF_ERR_PROXY_NO_UPSTREAM')
  const other = await get(`${dfdaemon.baseUrl}/not-registry`)
  assert.equal(JSON.parse(other.body.toString()).code, 'DF_ERR_PROXY_BAD_REQUEST')
})

test('when the swarm cannot start or fails part-way the blob comes from the registry and is still whole', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { registryUrl: registry.baseUrl })
  const layer = image.layers[1]!
  fetcher.faults = { failStart: true }
  const first = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
  assert.equal(`sha256:${sha256Hex(first.body)}`, layer.digest)
  fetcher.faults = { failAfterBytes: MiB + 5 }
  const second = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
  assert.equal(second.body.length, layer.data.length)
  assert.equal(`sha256:${sha256Hex(second.body)}`, layer.digest)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_back_source_total', 'stage="start"'), 1)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_back_source_total', 'stage="continue"'), 1)
  assert.ok(registry.requests(layer.digest, 'GET') >= 2)
})

test('with back-source off a swarm failure fails the request with its code', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { registryUrl: registry.baseUrl, backSource: false })
  fetcher.faults = { failStart: true }
  const answer = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${image.layers[0]!.digest}`)
  assert.equal(answer.status, 502)
  assert.equal(JSON.parse(answer.body.toString()).code, 'DF_ERR_TASK_SWARM_FAILED')
})

test('a blob whose bytes do not match its digest is never served whole: the transfer breaks', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher, logs } = await startDfdaemon(t, { registryUrl: registry.baseUrl })
  const layer = image.layers[1]!
  fetcher.faults = { corruptAt: 2 * MiB }
  const response = await undiciRequest(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
  assert.equal(response.statusCode, 200)
  let received = 0
  await assert.rejects(async () => { for await (const chunk of response.body) received += (chunk as Buffer).length })
  assert.ok(received < layer.data.length, `received ${received} of ${layer.data.length}`)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_digest_mismatches_total'), 1)
  assert.match(logs(), /DF_ERR_PROXY_DIGEST_MISMATCH/)
})

test('a private registry: credentials pass through to the registry and the swarm fetch, are never logged, and without them the 401 passes through', async (t) => {
  const { registry, image } = await registryWithImage(t, true)
  const { dfdaemon, fetcher, logs } = await startDfdaemon(t, { registryUrl: registry.baseUrl })
  const auth = { authorization: registry.authorization }
  const manifest = await get(`${dfdaemon.baseUrl}/v2/test/img/manifests/1`, { ...auth, accept: image.manifest.mediaType })
  assert.equal(manifest.status, 200)
  const layer = image.layers[0]!
  const blob = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`, auth)
  assert.equal(`sha256:${sha256Hex(blob.body)}`, layer.digest)
  assert.equal(fetcher.requests[0]?.headers.authorization, registry.authorization)
  const denied = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
  assert.equal(denied.status, 401)
  assert.match(String(denied.headers['www-authenticate']), /^Basic /)
  assert.equal(fetcher.requests.length, 1, 'an unauthorised client never reaches the swarm')
  const text = logs()
  assert.ok(text.length > 0)
  assert.ok(!text.includes(registry.authorization.slice(6)) && !text.includes(REGISTRY_PASSWORD), 'credentials appear in the log')
})

test('a registry that redirects blobs to storage: the swarm fetches the storage URL without the registry\'s credentials', async (t) => {
  const data = createTestData(2 * MiB, 5)
  const digest = `sha256:${sha256Hex(data)}`
  const storage = await startOrigin({ files: { '/bucket/blob': { data } } })
  t.after(() => storage.close())
  const registry = createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer secret') { res.writeHead(401, { 'www-authenticate': 'Bearer realm="x"' }).end(); return }
    res.writeHead(307, { location: storage.url('/bucket/blob?X-Signature=abc') }).end()
  })
  await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { registry.closeAllConnections(); registry.close(() => { resolve() }) }))
  const { dfdaemon, fetcher, logs } = await startDfdaemon(t, { registryUrl: `http://127.0.0.1:${(registry.address() as AddressInfo).port}` })
  const blob = await get(`${dfdaemon.baseUrl}/v2/r/blobs/${digest}`, { authorization: 'Bearer secret' })
  assert.equal(blob.status, 200)
  assert.equal(`sha256:${sha256Hex(blob.body)}`, digest)
  assert.equal(fetcher.requests[0]?.url, storage.url('/bucket/blob?X-Signature=abc'))
  assert.equal(fetcher.requests[0]?.headers.authorization, undefined)
  fetcher.faults = { failStart: true }
  const direct = await get(`${dfdaemon.baseUrl}/v2/r/blobs/${digest}`, { authorization: 'Bearer secret' })
  assert.equal(`sha256:${sha256Hex(direct.body)}`, digest, 'the direct fallback follows the redirect')
  assert.ok(!logs().includes('X-Signature=abc') && !logs().includes('Bearer secret'))
})

test('as a forward proxy it serves absolute-URI requests: blobs through the swarm, other URLs direct', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, {})
  const agent = new ProxyAgent({ uri: dfdaemon.baseUrl, proxyTunnel: false })
  t.after(() => agent.close())
  const layer = image.layers[0]!
  const blob = await undiciRequest(`${registry.baseUrl}/v2/test/img/blobs/${layer.digest}`, { dispatcher: agent })
  assert.equal(`sha256:${sha256Hex(Buffer.from(await blob.body.arrayBuffer()))}`, layer.digest)
  const manifest = await undiciRequest(`${registry.baseUrl}/v2/test/img/manifests/1`, { dispatcher: agent, headers: { accept: image.manifest.mediaType } })
  assert.equal(Buffer.from(await manifest.body.arrayBuffer()).toString(), image.manifest.data.toString())
  assert.equal(fetcher.requests.length, 1)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_requests_total', 'pass_through'), 1)
})

test('rules decide per URL: direct rules bypass the swarm and redirect rewrites the host', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, {
    registryUrl: 'http://registry.invalid:5000',
    rules: [{ pattern: `blobs/${image.layers[0]!.digest}`, direct: true, redirect: registry.host }, { pattern: 'registry\\.invalid', redirect: registry.host }],
  })
  for (const layer of image.layers) {
    const blob = await get(`${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`)
    assert.equal(`sha256:${sha256Hex(blob.body)}`, layer.digest)
  }
  assert.deepEqual(fetcher.requests.map((r) => r.digest), [image.layers[1]!.digest])
})

test('no prefetch when the rules send the repository\'s blobs direct', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { registryUrl: registry.baseUrl, rules: [{ pattern: 'test/img/blobs/', direct: true }, { pattern: 'blobs/sha256:' }] })
  const manifest = await get(`${dfdaemon.baseUrl}/v2/test/img/manifests/1`, { accept: image.manifest.mediaType })
  assert.equal(manifest.status, 200)
  assert.deepEqual(fetcher.prefetches, [])
})

test('a ranged blob GET is served from the swarm stream: 206 with Content-Range; the rest of a range the swarm drops part-way, or a swarm that cannot start, comes from the registry', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher, logs } = await startDfdaemon(t, { registryUrl: registry.baseUrl })
  const layer = image.layers[1]!
  const url = `${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`
  const length = layer.data.length
  const expect = async (range: string, start: number, end: number): Promise<void> => {
    const answer = await get(url, { range })
    assert.equal(answer.status, 206, `${range}: ${answer.body.toString().slice(0, 200)}\n${logs()}`)
    assert.equal(answer.headers['content-range'], `bytes ${start}-${end}/${length}`)
    assert.equal(answer.headers['accept-ranges'], 'bytes')
    assert.ok(answer.body.equals(layer.data.subarray(start, end + 1)), `the bytes of ${range}`)
  }

  await expect(`bytes=${MiB}-${2 * MiB - 1}`, MiB, 2 * MiB - 1)
  assert.equal(fetcher.requests.length, 1, 'the range went to the swarm')
  assert.equal(fetcher.requests[0]?.digest, layer.digest)
  assert.equal(fetcher.requests[0]?.headers.range, undefined, 'the swarm fetches the whole blob')
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_swarm_route_bytes_total', 'source="swarm"'), MiB)

  // The swarm fails inside the range: the range's rest is read from the registry.
  fetcher.faults = { failAfterBytes: MiB + 1000 }
  await expect(`bytes=${MiB}-${2 * MiB - 1}`, MiB, 2 * MiB - 1)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_back_source_total', 'stage="continue"'), 1)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_swarm_route_bytes_total', 'source="direct"'), MiB - 1000)

  // The swarm fails after the range: the range was whole from the swarm, no fallback.
  fetcher.faults = { failAfterBytes: 2 * MiB + 10 }
  await expect('bytes=5-99', 5, 99)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_back_source_total'), 1)

  // The swarm cannot start: the engine's ranged request goes to the registry as it is.
  fetcher.faults = { failStart: true }
  await expect('bytes=-10', length - 10, length - 1)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_back_source_total', 'stage="start"'), 1)
  assert.doesNotMatch(logs(), /--notbs/, 'the fallback log names the swarm\'s reason, not --notbs')
})

test('with back-source off, a ranged GET the swarm cannot serve fails; an If-Range for another blob gets the whole blob', async (t) => {
  const { registry, image } = await registryWithImage(t)
  const { dfdaemon, fetcher } = await startDfdaemon(t, { registryUrl: registry.baseUrl, backSource: false })
  const layer = image.layers[0]!
  const url = `${dfdaemon.baseUrl}/v2/test/img/blobs/${layer.digest}`
  const whole = await get(url, { range: 'bytes=0-9', 'if-range': '"sha256:other"' })
  assert.equal(whole.status, 200)
  assert.ok(whole.body.equals(layer.data))
  fetcher.faults = { failStart: true }
  const refused = await get(url, { range: 'bytes=0-9' })
  assert.equal(refused.status, 502)
  assert.equal(JSON.parse(refused.body.toString()).code, 'DF_ERR_TASK_SWARM_FAILED')
  fetcher.faults = { failAfterBytes: 5 }
  await assert.rejects(get(url, { range: 'bytes=0-9' }), 'a range cut short aborts the response')
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_back_source_total'), 0)
  assert.equal(await metric(dfdaemon, 'dragonfly_dfdaemon_swarm_route_bytes_total', 'source="direct"'), 0, 'dfdaemon never read the registry itself')
})
