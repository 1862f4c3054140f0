import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Readable } from 'node:stream'
import { createTestData, startOrigin } from '../../test/harness/origin.js'
import { isCode } from '../protocol/errors.js'
import { UpstreamClient } from './upstream-client.js'

async function readAll (body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

test('a blob redirected to storage on another host is fetched without the registry credentials; HEAD too; a 3xx passes through when not followed', async (t) => {
  const data = createTestData(100_000, 7)
  const registry = await startOrigin()
  t.after(() => registry.close())
  const storage = await startOrigin({ host: '127.0.0.2' })
  t.after(() => storage.close())
  storage.setFile('/blobs/b1', { data })
  registry.setRedirect('/v2/team/app/blobs/sha256:b1', { status: 307, location: storage.url('/blobs/b1?X-Amz-Signature=s') })
  const upstream = new UpstreamClient()
  t.after(() => upstream.close())
  const headers = { authorization: 'Bearer registry-token', cookie: 'c=1', accept: '*/*' }
  const url = new URL(registry.url('/v2/team/app/blobs/sha256:b1'))
  const answer = await upstream.exchange({ method: 'GET', url, headers, maxRedirects: 10 })
  assert.equal(answer.status, 200)
  assert.ok((await readAll(answer.body)).equals(data))
  assert.equal(answer.url.origin, new URL(storage.baseUrl).origin)
  assert.equal(answer.sentHeaders.authorization, undefined)
  assert.equal(answer.sentHeaders.accept, '*/*')
  const head = await upstream.exchange({ method: 'HEAD', url, headers, maxRedirects: 10 })
  head.body.resume()
  assert.equal(head.status, 200)
  const seen = storage.stats('/blobs/b1').headers
  assert.equal(seen.length, 2)
  for (const request of seen) {
    assert.equal(request.authorization, undefined, 'storage never sees the registry token')
    assert.equal(request.cookie, undefined)
  }
  assert.equal(registry.stats('/v2/team/app/blobs/sha256:b1').headers[0]?.authorization, 'Bearer registry-token')
  const relayed = await upstream.exchange({ method: 'GET', url, headers })
  relayed.body.resume()
  assert.equal(relayed.status, 307, 'without maxRedirects the redirect is relayed as it is')
})

test('a registry redirecting in a loop gets DF_ERR_SOURCE_REDIRECT_LOOP, too many hops DF_ERR_SOURCE_TOO_MANY_REDIRECTS', async (t) => {
  const registry = await startOrigin()
  t.after(() => registry.close())
  registry.setRedirect('/v2/a/blobs/x', { status: 302, location: '/v2/a/blobs/y' })
  registry.setRedirect('/v2/a/blobs/y', { status: 302, location: '/v2/a/blobs/x' })
  registry.setRedirect('/v2/a/blobs/h0', { status: 302, location: '/v2/a/blobs/h1' })
  registry.setRedirect('/v2/a/blobs/h1', { status: 302, location: '/v2/a/blobs/h2' })
  const upstream = new UpstreamClient()
  t.after(() => upstream.close())
  await assert.rejects(upstream.exchange({ method: 'GET', url: new URL(registry.url('/v2/a/blobs/x')), headers: {}, maxRedirects: 10 }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_REDIRECT_LOOP'))
  await assert.rejects(upstream.exchange({ method: 'GET', url: new URL(registry.url('/v2/a/blobs/h0')), headers: {}, maxRedirects: 1 }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_TOO_MANY_REDIRECTS'))
})
