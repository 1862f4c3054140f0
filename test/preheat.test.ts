/**
 * Preheat with real servers: a supernode in process warms its CDN cache from a real origin
 * (file) or a real docker-registry behind a Bearer-token front (image, an OCI index with two
 * platform manifests), then in-process dfgets download the preheated file.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../src/common/lifecycle.js'
import { createSilentLogger } from '../src/common/log.js'
import { parseNodeList } from '../src/common/node-list.js'
import { orderSupernodes, resolveDfgetConfig, runDfget, type DfgetResult } from '../src/dfget/index.js'
import { isCode } from '../src/protocol/errors.js'
import { computeTaskId } from '../src/protocol/task-id.js'
import type { PreheatInfo } from '../src/protocol/messages/preheat.js'
import type { SupernodeClient } from '../src/supernode/client.js'
import { buildTestImage, pushImage, type TestImage } from './harness/oci-image.js'
import { createTestData, sha256Hex, startOrigin } from './harness/origin.js'
import { startTestPeer } from './harness/peer.js'
import { startSwarmDfdaemon } from './harness/swarm-dfdaemon.js'
import { startRegistry } from './harness/registry.js'
import { metricValue, startTestSupernode } from './harness/supernode.js'
import { createTmpDir } from './harness/tmp-dir.js'

const MiB = 1024 * 1024

async function waitForPreheat (client: SupernodeClient, id: string, timeoutMs = 30_000): Promise<PreheatInfo> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const info = await client.getPreheat(id)
    if (info.status === 'success' || info.status === 'failed') return info
    if (Date.now() > deadline) throw new Error(`preheat ${id} still ${info.status} after ${timeoutMs} ms`)
    await new Promise<void>((resolve) => { setTimeout(resolve, 10) })
  }
}

test('a preheated 64 MiB file is read from the origin once, before 4 dfgets download it from the swarm', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(64 * MiB, 71)
  const origin = stack.push(await startOrigin({ files: { '/big.bin': { data } } }))
  const dir = stack.push(await createTmpDir('damselfly-preheat-'))
  const sn = stack.push(await startTestSupernode())
  const created = await sn.client.createPreheat({ type: 'file', url: origin.url('/big.bin') })
  assert.ok(created.status === 'waiting' || created.status === 'running')
  const done = await waitForPreheat(sn.client, created.id)
  assert.equal(done.status, 'success', JSON.stringify(done.error))
  assert.equal(done.tasks.length, 1)
  assert.equal(done.tasks[0]?.kind, 'file')
  assert.equal(done.tasks[0]?.fileLengthBytes, data.length)
  const before = origin.stats('/big.bin')
  assert.ok(before.bytesSent >= data.length && before.bytesSent <= data.length + 16, `origin sent ${before.bytesSent} bytes for the preheat`)

  const peers = await Promise.all([0, 1, 2, 3].map(async () => stack.push(await startTestPeer())))
  const results = await Promise.all(peers.map(async (peer, i) => await runDfget(
    resolveDfgetConfig({ url: origin.url('/big.bin'), output: join(dir.path, `out-${i}`), node: [new URL(sn.apiUrl).host], home: peer.homeDir, notbs: true }, dir.path),
    { logger: createSilentLogger(), peerServerLocator: peer.locator },
  )))
  for (const [i, result] of results.entries()) {
    assert.equal(result.bytesFromSource, 0, `dfget ${i} went to the source`)
    assert.equal(result.taskId, done.tasks[0]?.taskId, `dfget ${i} met the preheated task`)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), sha256Hex(data))
  }
  const after = origin.stats('/big.bin')
  assert.equal(after.bytesSent, before.bytesSent, 'not one byte of the file read from the origin after the preheat')
  // The registrations of a finished task share one conditional revalidation probe, and the
  // first (anonymous) one proves its access with one more, which makes the preheated task
  // public (docs/security.md): `Range: bytes=0-0` with If-None-Match, answered 304 without a
  // body; nothing else.
  const extra = after.ranges.slice(before.ranges.length)
  assert.ok(extra.length <= 2 && extra.every((range) => range === 'bytes=0-0'), `origin requests after the preheat: ${JSON.stringify(extra)}`)
  const metrics = await sn.client.fetchMetricsText()
  assert.equal(metricValue(metrics, 'dragonfly_supernode_preheats_total', { type: 'file', status: 'success' }), 1)
  assert.ok(metricValue(metrics, 'dragonfly_supernode_cdn_download_size_bytes_total') <= data.length + 16)
})

test('preheat input errors: 400 naming the field, 404 for an unknown id, a failing source ends failed with its code', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: {} }))
  const sn = stack.push(await startTestSupernode())
  await assert.rejects(sn.client.createPreheat({ type: 'image', url: origin.url('/not-a-manifest') }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.url' && err.remote?.status === 400)
  await assert.rejects(sn.client.createPreheat({ type: 'disk', url: origin.url('/x') } as unknown as { type: 'file', url: string }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.remote?.status === 400)
  await assert.rejects(sn.client.getPreheat('0'.repeat(32)), (err: unknown) => isCode(err, 'DF_ERR_TASK_PREHEAT_NOT_FOUND') && err.remote?.status === 404)
  const traced = await fetch(`${sn.apiUrl}/api/v1/preheats/${'0'.repeat(32)}`, { headers: { 'x-request-id': 'trace-42' } })
  assert.equal(traced.status, 404)
  assert.equal(traced.headers.get('x-request-id'), 'trace-42', 'the caller\'s request id is echoed (and logged as reqId)')
  await traced.body?.cancel()
  const missing = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'file', url: origin.url('/nope.bin') })).id)
  assert.equal(missing.status, 'failed')
  assert.equal(missing.error?.code, 'DF_ERR_SOURCE_STATUS')
  const manifest = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'image', url: origin.url('/v2/a/b/manifests/latest') })).id)
  assert.equal(manifest.status, 'failed')
  assert.equal(manifest.error?.code, 'DF_ERR_SOURCE_STATUS')
  assert.equal((await sn.client.listPreheats()).preheats.length, 2)
})

test('preheats obey the source policy: a denied host is never asked, the preheat fails with DF_ERR_SOURCE_FORBIDDEN', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data: createTestData(1000, 3) } } }))
  const sn = stack.push(await startTestSupernode(undefined, { sourceDeny: ['127.0.0.0/8'] }))
  for (const request of [{ type: 'file' as const, url: origin.url('/f.bin') }, { type: 'image' as const, url: origin.url('/v2/a/manifests/1') }]) {
    const done = await waitForPreheat(sn.client, (await sn.client.createPreheat(request)).id)
    assert.equal(done.status, 'failed')
    assert.equal(done.error?.code, 'DF_ERR_SOURCE_FORBIDDEN', request.type)
  }
  assert.equal(origin.stats('/f.bin').requests + origin.stats('/v2/a/manifests/1').requests, 0, 'the denied origin saw no request')
})

/** A token-auth front for a registry: 401 + Bearer challenge without the token, a token endpoint, a proxy with it. */
async function startTokenFront (registryUrl: string, token: string): Promise<{ baseUrl: string, tokenRequests: () => number, close: () => Promise<void> }> {
  let tokenRequests = 0
  const sockets = new Set<Socket>()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://front')
    if (url.pathname === '/token') {
      tokenRequests += 1
      const scopeOk = url.searchParams.get('service') === 'front-registry' && (url.searchParams.get('scope') ?? '').startsWith('repository:')
      res.writeHead(scopeOk ? 200 : 400, { 'content-type': 'application/json' }).end(JSON.stringify(scopeOk ? { token, expires_in: 300 } : {}))
      return
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${req.headers.host ?? ''}/token",service="front-registry",scope="repository:multi/app:pull"`, 'content-type': 'application/json' })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}')
      return
    }
    const headers: Record<string, string> = {}
    for (const name of ['accept', 'range']) { const value = req.headers[name]; if (typeof value === 'string') headers[name] = value }
    fetch(`${registryUrl}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, redirect: 'manual' }).then(async (upstream) => {
      const out: Record<string, string> = {}
      upstream.headers.forEach((value, name) => { if (!['content-encoding', 'transfer-encoding', 'connection'].includes(name)) out[name] = value })
      res.writeHead(upstream.status, out)
      res.end(Buffer.from(await upstream.arrayBuffer()))
    }, () => { res.destroy() })
  })
  server.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tokenRequests: () => tokenRequests,
    close: async () => { await new Promise<void>((resolve) => { server.close(() => { resolve() }); for (const s of sockets) s.destroy() }) },
  }
}

test('an image preheat warms every layer of both platforms of an OCI index behind registry token auth', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-preheat-img-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const amd64 = buildTestImage([3 * MiB, MiB], 81)
  const arm64 = buildTestImage([2 * MiB, MiB + 5], 82)
  await pushImage(registry.baseUrl, 'multi/app', 'amd64', amd64)
  await pushImage(registry.baseUrl, 'multi/app', 'arm64', arm64)
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      { mediaType: amd64.manifest.mediaType, digest: amd64.manifest.digest, size: amd64.manifest.data.length, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: arm64.manifest.mediaType, digest: arm64.manifest.digest, size: arm64.manifest.data.length, platform: { architecture: 'arm64', os: 'linux' } },
    ],
  }))
  const put = await fetch(`${registry.baseUrl}/v2/multi/app/manifests/1`, { method: 'PUT', headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index })
  assert.equal(put.status, 201, await put.text())
  const front = stack.push(await startTokenFront(registry.baseUrl, 'tok-123'))
  const sn = stack.push(await startTestSupernode())

  const created = await sn.client.createPreheat({ type: 'image', url: `${front.baseUrl}/v2/multi/app/manifests/1` })
  const done = await waitForPreheat(sn.client, created.id)
  assert.equal(done.status, 'success', JSON.stringify(done.error))
  const layers = (image: TestImage): string[] => image.layers.map((layer) => layer.digest)
  const digestsOf = (kind: string): string[] => done.tasks.filter((task) => task.kind === kind).map((task) => task.digest ?? '').sort()
  assert.deepEqual(digestsOf('layer'), [...layers(amd64), ...layers(arm64)].sort(), 'every layer of both platforms')
  assert.deepEqual(digestsOf('config'), [amd64.config.digest, arm64.config.digest].sort(), 'and both configs')
  assert.ok(front.tokenRequests() >= 1, 'the token endpoint was used')
  const sizes = new Map([...amd64.layers, ...arm64.layers, amd64.config, arm64.config].map((blob) => [blob.digest, blob.data.length]))
  for (const task of done.tasks) {
    assert.equal(task.status, 'success')
    assert.equal(task.fileLengthBytes, sizes.get(task.digest ?? ''))
    const info = await sn.client.getTask(task.taskId)
    assert.equal(info.cdnStatus, 'success')
    assert.equal(info.cachedPieces, info.pieceCount)
    // The task is the one a blob download registers: identified by the digest alone.
    assert.equal(task.taskId, createHash('sha256').update(`digest\n${task.digest ?? ''}`).digest('hex'))
    const served = registry.bytesServed(`/blobs/${task.digest ?? ''}`)
    assert.ok(served >= task.fileLengthBytes && served <= task.fileLengthBytes + 16, `registry served ${served} bytes of ${task.digest ?? ''}`)
  }
})

test('dfdaemon\'s blob download meets the task an image preheat warmed: the registry serves the layer once', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-preheat-dfdaemon-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const image = buildTestImage([2 * MiB, MiB + 3], 83)
  await pushImage(registry.baseUrl, 'warm/app', '1', image)
  const sn = stack.push(await startTestSupernode())
  const done = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'image', url: `${registry.baseUrl}/v2/warm/app/manifests/1` })).id)
  assert.equal(done.status, 'success', JSON.stringify(done.error))
  const peer = stack.push(await startTestPeer())
  const results: DfgetResult[] = []
  const dfdaemon = stack.push(await startSwarmDfdaemon({ peer, registryUrl: registry.baseUrl, nodes: [new URL(sn.apiUrl).host], onResult: (result) => { results.push(result) } }))
  // Every blob a pull fetches — the layers and the config — comes from the warm CDN cache.
  for (const blob of [...image.layers, image.config]) {
    const servedBefore = registry.bytesServed(`/blobs/${blob.digest}`)
    const requestsBefore = registry.requests(`/blobs/${blob.digest}`, 'GET')
    const response = await fetch(`${dfdaemon.baseUrl}/v2/warm/app/blobs/${blob.digest}`)
    assert.equal(response.status, 200)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(blob.data), `blob ${blob.digest} bytes`)
    assert.equal(registry.bytesServed(`/blobs/${blob.digest}`), servedBefore, 'the registry was not read again')
    // A digest-identified task is not revalidated (its bytes cannot change); the one GET is
    // the registration's proof of its own access, conditional, answered without a body (a
    // preheat proves nobody's access: docs/security.md). dfdaemon itself may HEAD the blob.
    assert.ok(registry.requests(`/blobs/${blob.digest}`, 'GET') <= requestsBefore + 1, 'the registry was asked once at most')
  }
  // A stream's result settles just after its last byte reached the reader.
  const deadline = Date.now() + 10_000
  while (results.length < done.tasks.length && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(results.map((result) => result.taskId).sort(), done.tasks.map((task) => task.taskId).sort())
  assert.ok(results.every((result) => result.bytesFromSource === 0))
  assert.equal(metricValue((await dfdaemon.metrics.render()).text, 'dragonfly_dfdaemon_route_requests_total', { route: 'swarm' }), image.layers.length + 1)
})

test('an image preheat of a registry with basic auth uses the credentials it is given, and fails with 401 without them', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-preheat-basic-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry'), { auth: true }))
  const image = buildTestImage([MiB], 84)
  await pushImage(registry.baseUrl, 'private/app', '1', image, registry.authorization)
  const sn = stack.push(await startTestSupernode())
  const url = `${registry.baseUrl}/v2/private/app/manifests/1`
  const refused = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'image', url })).id)
  assert.equal(refused.status, 'failed')
  assert.equal(refused.error?.code, 'DF_ERR_SOURCE_STATUS')
  const done = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'image', url, headers: { authorization: registry.authorization } })).id)
  assert.equal(done.status, 'success', JSON.stringify(done.error))
  assert.deepEqual(done.tasks.map((task) => task.digest).sort(), [...image.layers, image.config].map((blob) => blob.digest).sort())
  assert.ok(!JSON.stringify(await sn.client.getPreheat(done.id)).includes(registry.authorization), 'credentials are never shown back')
})

test('dfdaemon with two supernodes: a manifest passing through makes each supernode preheat the blobs whose tasks it owns, and the pulls meet those tasks', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-prefetch-two-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const sns = [stack.push(await startTestSupernode()), stack.push(await startTestSupernode())]
  const nodes = sns.map((sn) => new URL(sn.apiUrl).host)
  const addresses = parseNodeList(nodes)
  const ownerOf = (digest: string): string => orderSupernodes(addresses, computeTaskId({ url: 'unused', digest }))[0]?.baseUrl ?? ''
  // An image whose blobs the rendezvous hash spreads over both supernodes.
  let image: TestImage | undefined
  for (let seed = 100; image === undefined; seed++) {
    const candidate = buildTestImage([300_000, 200_000, 100_000, 50_000], seed)
    const owners = new Set([...candidate.layers, candidate.config].map((blob) => ownerOf(blob.digest)))
    if (owners.size === 2) image = candidate
  }
  await pushImage(registry.baseUrl, 'spread/app', '1', image)
  const peer = stack.push(await startTestPeer())
  const dfdaemon = stack.push(await startSwarmDfdaemon({ peer, registryUrl: registry.baseUrl, nodes }))

  const manifest = await fetch(`${dfdaemon.baseUrl}/v2/spread/app/manifests/1`, { headers: { accept: image.manifest.mediaType } })
  assert.equal(manifest.status, 200)
  assert.ok(Buffer.from(await manifest.arrayBuffer()).equals(image.manifest.data))
  const blobs = [...image.layers, image.config]
  for (const sn of sns) {
    const deadline = Date.now() + 30_000
    let preheats = (await sn.client.listPreheats()).preheats
    while (!(preheats.length === 1 && preheats[0]?.status !== 'running' && preheats[0]?.status !== 'waiting') && Date.now() < deadline) {
      await new Promise<void>((resolve) => { setTimeout(resolve, 20) })
      preheats = (await sn.client.listPreheats()).preheats
    }
    assert.equal(preheats.length, 1, `one preheat at ${sn.apiUrl}`)
    assert.equal(preheats[0]?.status, 'success', JSON.stringify(preheats[0]?.error))
    const owned = blobs.filter((blob) => ownerOf(blob.digest) === new URL(sn.apiUrl).origin).map((blob) => blob.digest)
    assert.deepEqual(preheats[0]?.tasks.map((task) => task.digest).sort(), owned.sort(), 'it warmed exactly the blobs it owns')
  }
  // The engine's blob requests meet the warm tasks: the registry is not read again.
  for (const blob of blobs) {
    const servedBefore = registry.bytesServed(`/blobs/${blob.digest}`)
    const getsBefore = registry.requests(`/blobs/${blob.digest}`, 'GET')
    assert.ok(servedBefore >= blob.data.length, `blob ${blob.digest} was preheated`)
    const response = await fetch(`${dfdaemon.baseUrl}/v2/spread/app/blobs/${blob.digest}`)
    assert.equal(response.status, 200)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(blob.data), `blob ${blob.digest}`)
    assert.equal(registry.bytesServed(`/blobs/${blob.digest}`), servedBefore, `blob ${blob.digest}: the registry was not read again`)
    // At most the registration's conditional proof of access (docs/security.md).
    assert.ok(registry.requests(`/blobs/${blob.digest}`, 'GET') <= getsBefore + 1, `blob ${blob.digest}: one GET at most at the registry`)
  }
})

test('preheat digests: only with type image, and a digest the image lacks fails the preheat naming it', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-preheat-digests-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const image = buildTestImage([10_000], 7)
  await pushImage(registry.baseUrl, 'one/app', '1', image)
  const sn = stack.push(await startTestSupernode())
  const fileWithDigests = await fetch(`${sn.apiUrl}/api/v1/preheats`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ type: 'file', url: `${registry.baseUrl}/v2/one/app/blobs/${image.layers[0]!.digest}`, digests: [image.layers[0]!.digest] }) })
  assert.equal(fileWithDigests.status, 400)
  assert.match(JSON.stringify(await fileWithDigests.json()), /digests/)
  const absent = `sha256:${'1'.repeat(64)}`
  const created = await sn.client.createPreheat({ type: 'image', url: `${registry.baseUrl}/v2/one/app/manifests/1`, digests: [image.layers[0]!.digest, absent] })
  const done = await waitForPreheat(sn.client, created.id)
  assert.equal(done.status, 'failed')
  assert.equal(done.error?.code, 'DF_ERR_ARG_INVALID')
  assert.match(done.error?.message ?? '', new RegExp(absent))
})

test('an image preheat follows the manifest\'s redirects as every source read does: to a mirror (credentials dropped), a loop is DF_ERR_SOURCE_REDIRECT_LOOP, a denied host is never asked', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const layer = createTestData(MiB + 5, 91)
  const config = Buffer.from('{"architecture":"amd64","os":"linux"}')
  const digestOf = (data: Buffer): string => `sha256:${sha256Hex(data)}`
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
  }))
  // The registry answers the manifest with a 307 to a mirror on another host, and serves the blobs itself.
  const mirror = stack.push(await startOrigin({ host: '127.0.0.2', files: { '/v2/app/manifests/1': { data: manifest } } }))
  const registry = stack.push(await startOrigin({
    files: { [`/v2/app/blobs/${digestOf(layer)}`]: { data: layer }, [`/v2/app/blobs/${digestOf(config)}`]: { data: config } },
    redirects: {
      '/v2/app/manifests/1': { status: 307, location: mirror.url('/v2/app/manifests/1') },
      '/v2/loop/manifests/1': { status: 302, location: '/v2/loop/manifests/2' },
      '/v2/loop/manifests/2': { status: 302, location: '/v2/loop/manifests/1' },
    },
  }))
  const sn = stack.push(await startTestSupernode())
  const headers = { authorization: 'Basic ZGFtc2VsZmx5OnByZWhlYXQ=' }
  const done = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'image', url: registry.url('/v2/app/manifests/1'), headers })).id)
  assert.equal(done.status, 'success', JSON.stringify(done.error))
  assert.deepEqual(done.tasks.map((task) => task.taskId).sort(), [digestOf(layer), digestOf(config)].map((digest) => computeTaskId({ url: registry.url(`/v2/app/blobs/${digest}`), digest })).sort())
  assert.equal(registry.stats(`/v2/app/blobs/${digestOf(layer)}`).bytesSent >= layer.length, true, 'the layer was warmed from the registry')
  assert.equal(mirror.stats('/v2/app/manifests/1').requests, 1)
  assert.equal(mirror.stats('/v2/app/manifests/1').headers[0]?.authorization, undefined, 'the registry\'s credentials reached the mirror')
  assert.equal(registry.stats('/v2/app/manifests/1').headers[0]?.authorization, headers.authorization)

  const loop = await waitForPreheat(sn.client, (await sn.client.createPreheat({ type: 'image', url: registry.url('/v2/loop/manifests/1') })).id)
  assert.equal(loop.status, 'failed')
  assert.equal(loop.error?.code, 'DF_ERR_SOURCE_REDIRECT_LOOP')

  // The policy is checked at every hop: a redirect to a denied host fails the preheat before the host is asked.
  const strict = stack.push(await startTestSupernode(undefined, { sourceDeny: ['127.0.0.2/32'] }))
  const denied = await waitForPreheat(strict.client, (await strict.client.createPreheat({ type: 'image', url: registry.url('/v2/app/manifests/1') })).id)
  assert.equal(denied.status, 'failed')
  assert.equal(denied.error?.code, 'DF_ERR_SOURCE_FORBIDDEN')
  assert.equal(mirror.stats('/v2/app/manifests/1').requests, 1, 'the denied mirror was asked')
})
