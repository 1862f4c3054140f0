/**
 * Ranged blob reads through dfdaemon, as lazy-pulling snapshotters (eStargz, Nydus,
 * overlaybd) send them: each range is served from the swarm's pieces (the blob's task,
 * keyed by its digest, started or joined), not from the registry. Real parts: a
 * docker-registry, a supernode with its CDN, dfdaemon with its DfgetStreamFetcher and the
 * host's peer server.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { CloseStack } from '../src/common/lifecycle.js'
import { buildTestImage, pushImage } from './harness/oci-image.js'
import { startTestPeer } from './harness/peer.js'
import { startSwarmDfdaemon } from './harness/swarm-dfdaemon.js'
import { startRegistry } from './harness/registry.js'
import { metricValue, startTestSupernode } from './harness/supernode.js'
import { createTmpDir } from './harness/tmp-dir.js'

const MiB = 1024 * 1024

test('ranges of a layer read through dfdaemon: right bytes, 206 with the registry\'s headers, from the swarm\'s pieces; the registry is read once, by the CDN', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-dfdaemon-range-'))
  const registry = stack.push(await startRegistry(join(dir.path, 'registry')))
  const image = buildTestImage([6 * MiB + 12345], 93)
  await pushImage(registry.baseUrl, 'lazy/app', '1', image)
  const sn = stack.push(await startTestSupernode())
  const peer = stack.push(await startTestPeer())
  const dfdaemon = stack.push(await startSwarmDfdaemon({ peer, registryUrl: registry.baseUrl, nodes: [new URL(sn.apiUrl).host], prefetch: false }))
  const layer = image.layers[0]!
  const length = layer.data.length
  const blobUrl = `${dfdaemon.baseUrl}/v2/lazy/app/blobs/${layer.digest}`

  // What a snapshotter reads: the footer first, then the table of contents, then chunks.
  const reads: { header: string, start: number, end: number }[] = [
    { header: 'bytes=-4096', start: length - 4096, end: length - 1 },
    { header: `bytes=${length - 300_000}-${length - 4097}`, start: length - 300_000, end: length - 4097 },
    { header: 'bytes=0-1023', start: 0, end: 1023 },
    { header: `bytes=${3 * MiB - 7}-${5 * MiB}`, start: 3 * MiB - 7, end: 5 * MiB },
    { header: `bytes=${MiB}-`, start: MiB, end: length - 1 },
    { header: `bytes=${length - 10}-${length + 5000}`, start: length - 10, end: length - 1 },
  ]
  let rangeBytes = 0
  for (const read of reads) {
    const response = await fetch(blobUrl, { headers: { range: read.header } })
    const body = Buffer.from(await response.arrayBuffer())
    assert.equal(response.status, 206, read.header)
    assert.equal(response.headers.get('content-range'), `bytes ${read.start}-${read.end}/${length}`, read.header)
    assert.equal(Number(response.headers.get('content-length')), read.end - read.start + 1, read.header)
    assert.equal(response.headers.get('accept-ranges'), 'bytes')
    assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0')
    assert.equal(response.headers.get('docker-content-digest'), layer.digest)
    assert.ok(body.equals(layer.data.subarray(read.start, read.end + 1)), `the bytes of ${read.header}`)
    rangeBytes += body.length
  }
  assert.ok(rangeBytes > length, 'the ranges add up to more than the layer')

  // The whole blob, from the swarm too, carries the same registry headers.
  const whole = await fetch(blobUrl)
  assert.equal(whole.status, 200)
  assert.equal(whole.headers.get('accept-ranges'), 'bytes')
  assert.equal(whole.headers.get('docker-distribution-api-version'), 'registry/2.0')
  assert.ok(Buffer.from(await whole.arrayBuffer()).equals(layer.data))

  const metrics = (await dfdaemon.metrics.render()).text
  assert.equal(metricValue(metrics, 'dragonfly_dfdaemon_swarm_route_bytes_total', { source: 'swarm' }), rangeBytes + length, 'every byte sent came from the swarm')
  assert.equal(metricValue(metrics, 'dragonfly_dfdaemon_swarm_route_bytes_total', { source: 'direct' }), 0)
  assert.equal(metricValue(metrics, 'dragonfly_dfdaemon_back_source_total', { stage: 'start' }) + metricValue(metrics, 'dragonfly_dfdaemon_back_source_total', { stage: 'continue' }), 0)
  const supernodeMetrics = await (await fetch(`${sn.apiUrl}/metrics`)).text()
  assert.ok(metricValue(supernodeMetrics, 'dragonfly_supernode_pieces_downloaded_size_bytes_total') >= length, 'the supernode served the pieces')
  // The CDN's one read (and its 1-byte probe of Range support).
  assert.ok(registry.bytesServed(`/blobs/${layer.digest}`) <= length + 1024, `the registry served ${registry.bytesServed(`/blobs/${layer.digest}`)} bytes of a ${length}-byte layer`)
  assert.ok(metricValue(supernodeMetrics, 'dragonfly_supernode_cdn_download_size_bytes_total') <= length * 1.1)

  // A range the length cannot satisfy is answered 416; several ranges are the registry's to answer.
  const registryGets = registry.requests(`/blobs/${layer.digest}`, 'GET')
  const beyond = await fetch(blobUrl, { headers: { range: `bytes=${length}-` } })
  await beyond.arrayBuffer()
  assert.equal(beyond.status, 416)
  assert.equal(beyond.headers.get('content-range'), `bytes */${length}`)
  const multi = await fetch(blobUrl, { headers: { range: 'bytes=0-9,20-29' } })
  assert.equal(multi.status, 206)
  assert.match(multi.headers.get('content-type') ?? '', /^multipart\/byteranges/)
  await multi.arrayBuffer()
  assert.equal(registry.requests(`/blobs/${layer.digest}`, 'GET'), registryGets + 1)
})
