import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import type { Readable } from 'node:stream'
import { createTestData, startOrigin, type Origin } from '../../../test/harness/origin.js'
import { HttpClient } from '../http/client.js'
import { isCode } from '../../protocol/errors.js'
import { readRangeResuming } from './resumable-read.js'
import { isTransientSourceFailure, sourceStatusError } from './source-errors.js'
import { isCredentialHeader } from './source-headers.js'
import { SourcePolicy } from './source-policy.js'
import { createHttpSourceTransport, SourceReader, type SourceReaderDeps } from './source-reader.js'

const KiB = 1024

/** Two origins on two loopback addresses: two hosts, two origins. */
async function startOrigins (t: TestContext): Promise<{ a: Origin, b: Origin }> {
  const a = await startOrigin()
  t.after(() => a.close())
  const b = await startOrigin({ host: '127.0.0.2' })
  t.after(() => b.close())
  return { a, b }
}

function createReader (t: TestContext, deps: Omit<SourceReaderDeps, 'transport'> = {}, maxRedirects?: number): SourceReader {
  const http = new HttpClient({ keepAliveTimeoutMs: 1_000 })
  t.after(() => http.close())
  return new SourceReader({ transport: createHttpSourceTransport(http), ...deps }, maxRedirects === undefined ? {} : { maxRedirects })
}

async function readAll (body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

const signal = (): AbortSignal => AbortSignal.timeout(10_000)

test('a 302 to the file and a chain of 301, 302, 303, 307 and 308 are followed to the bytes', async (t) => {
  const data = createTestData(64 * KiB, 1)
  const { a } = await startOrigins(t)
  a.setFile('/f.bin', { data })
  a.setRedirect('/one', { status: 302, location: '/f.bin' })
  a.setRedirect('/c1', { status: 301, location: '/c2' })
  a.setRedirect('/c2', { status: 302, location: a.url('/c3') })
  a.setRedirect('/c3', { status: 303, location: 'c4' })
  a.setRedirect('/c4', { status: 307, location: '/c5' })
  a.setRedirect('/c5', { status: 308, location: '/f.bin' })
  const reader = createReader(t)
  const one = await reader.openWhole(a.url('/one'), {}, signal())
  assert.ok((await readAll(one.body)).equals(data))
  assert.equal(one.url, a.url('/f.bin'))
  const chain = await reader.openWhole(a.url('/c1'), {}, signal())
  assert.ok((await readAll(chain.body)).equals(data))
  for (const path of ['/c1', '/c2', '/c3', '/c4', '/c5']) assert.equal(a.stats(path).requests, 1, path)
  const probe = await reader.probe(a.url('/c1'), {}, undefined, signal())
  assert.deepEqual(probe.kind === 'ranged' ? probe.lengthBytes : probe.kind, data.length)
})

test('credentials are dropped on a redirect to another origin: the second origin never sees them, even when the chain comes back', async (t) => {
  const data = createTestData(8 * KiB, 2)
  const { a, b } = await startOrigins(t)
  a.setRedirect('/start', { status: 302, location: '/same' })
  a.setRedirect('/same', { status: 307, location: b.url('/f.bin') })
  b.setFile('/f.bin', { data })
  a.setRedirect('/away', { status: 302, location: b.url('/back') })
  b.setRedirect('/back', { status: 302, location: a.url('/home.bin') })
  a.setFile('/home.bin', { data })
  const reader = createReader(t)
  const headers = { Authorization: 'Bearer secret-token', Cookie: 'session=s1', 'X-Api-Key': 'k1', 'Private-Token': 'p1', 'X-Trace': 'kept' }
  const read = await reader.openWhole(a.url('/start'), headers, signal())
  assert.ok((await readAll(read.body)).equals(data))
  const sameOrigin = a.stats('/same').headers[0]
  assert.equal(sameOrigin?.authorization, 'Bearer secret-token', 'a same-origin hop keeps the credentials')
  assert.equal(sameOrigin?.cookie, 'session=s1')
  const other = b.stats('/f.bin').headers
  assert.equal(other.length, 1)
  for (const name of ['authorization', 'cookie', 'x-api-key', 'private-token']) assert.equal(other[0]?.[name], undefined, `${name} reached the other origin`)
  assert.equal(other[0]?.['x-trace'], 'kept', 'headers without credentials still follow')
  const back = await reader.openWhole(a.url('/away'), headers, signal())
  await readAll(back.body)
  assert.equal(b.stats('/back').headers[0]?.authorization, undefined)
  assert.equal(a.stats('/home.bin').headers[0]?.authorization, undefined, 'credentials dropped once stay dropped')
  assert.equal(a.stats('/home.bin').headers[0]?.cookie, undefined)
})

test('the source check runs at every hop: a redirect to a denied host is refused before it is asked, an allowed one followed', async (t) => {
  const data = createTestData(4 * KiB, 3)
  const { a, b } = await startOrigins(t)
  a.setRedirect('/to-b', { status: 307, location: b.url('/f.bin') })
  b.setFile('/f.bin', { data })
  const denying = createReader(t, { check: new SourcePolicy({ deny: ['127.0.0.2'] }).asCheck })
  await assert.rejects(denying.openWhole(a.url('/to-b'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN'))
  await assert.rejects(denying.probe(a.url('/to-b'), {}, undefined, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN'))
  assert.equal(b.stats('/f.bin').requests, 0, 'the denied host was never asked')
  const allowing = createReader(t, { check: new SourcePolicy({ allow: ['127.0.0.1', '127.0.0.2'] }).asCheck })
  assert.ok((await readAll((await allowing.openWhole(a.url('/to-b'), {}, signal())).body)).equals(data))
  const onlyA = createReader(t, { check: new SourcePolicy({ allow: ['127.0.0.1'] }).asCheck })
  await assert.rejects(onlyA.openWhole(a.url('/to-b'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN'))
  assert.equal(b.stats('/f.bin').requests, 1, 'only the allowing reader reached it')
})

test('a redirect loop is DF_ERR_SOURCE_REDIRECT_LOOP, a chain past the limit DF_ERR_SOURCE_TOO_MANY_REDIRECTS, a non-http target DF_ERR_SOURCE_FORBIDDEN', async (t) => {
  const { a, b } = await startOrigins(t)
  a.setRedirect('/self', { status: 302, location: '/self' })
  a.setRedirect('/ping', { status: 302, location: b.url('/pong') })
  b.setRedirect('/pong', { status: 307, location: a.url('/ping') })
  for (let i = 0; i < 12; i++) a.setRedirect(`/hop${i}`, { status: 302, location: `/hop${i + 1}` })
  a.setFile('/hop12', { data: Buffer.from('end') })
  a.setRedirect('/ftp', { status: 302, location: 'ftp://127.0.0.1/f' })
  const reader = createReader(t)
  await assert.rejects(reader.openWhole(a.url('/self'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_REDIRECT_LOOP'))
  await assert.rejects(reader.openWhole(a.url('/ping'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_REDIRECT_LOOP'))
  assert.equal(a.stats('/ping').requests, 1, 'the loop is cut at the first repeated URL')
  await assert.rejects(reader.openWhole(a.url('/hop0'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_TOO_MANY_REDIRECTS') && err.details?.maxRedirects === 10)
  assert.equal(a.stats('/hop11').requests, 0, 'no request beyond the limit')
  assert.equal((await readAll((await createReader(t, {}, 12).openWhole(a.url('/hop0'), {}, signal())).body)).toString(), 'end')
  await assert.rejects(reader.openWhole(a.url('/ftp'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN'))
})

test('one status mapping: an error status after redirects is DF_ERR_SOURCE_STATUS with the status; only transient ones may be retried', async (t) => {
  const { a } = await startOrigins(t)
  a.setRedirect('/gone', { status: 302, location: '/missing.bin' })
  a.setFile('/busy.bin', { data: Buffer.alloc(10), faults: { status: 503 } })
  const reader = createReader(t)
  const is404 = (err: unknown): boolean => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 404 && !isTransientSourceFailure(err)
  await assert.rejects(reader.openWhole(a.url('/gone'), {}, signal()), is404)
  await assert.rejects(reader.probe(a.url('/gone'), {}, undefined, signal()), is404)
  await assert.rejects(reader.openRange(a.url('/gone'), {}, 0, 9, signal()), is404)
  await assert.rejects(reader.openWhole(a.url('/busy.bin'), {}, signal()), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 503 && isTransientSourceFailure(err))
  assert.equal(isTransientSourceFailure(sourceStatusError(429, a.url('/x'))), true)
})

test('a ranged read through a redirect resumes from the last good byte, and fails with DF_ERR_SOURCE_CHANGED when the file changed meanwhile', async (t) => {
  const data = createTestData(512 * KiB, 4)
  const { a } = await startOrigins(t)
  a.setRedirect('/r', { status: 302, location: '/f.bin' })
  a.setFile('/f.bin', { data, faults: { perRequest: (n) => n === 2 ? { dropAfterBytes: 100_000 } : undefined } })
  const reader = createReader(t)
  const probe = await reader.probe(a.url('/r'), {}, undefined, signal())
  assert.equal(probe.kind, 'ranged')
  const validators = probe.kind === 'ranged' ? probe.validators : undefined
  const chunks: Buffer[] = []
  let expectedOffset = 1000
  const outcome = await readRangeResuming(reader, { url: a.url('/r'), headers: {}, startBytes: 1000, endBytes: data.length - 1, totalBytes: data.length, validators, attempts: 1, signal: signal() }, (chunk, offset) => {
    assert.equal(offset, expectedOffset, 'bytes come in order, each once')
    expectedOffset += chunk.length
    chunks.push(chunk)
  })
  assert.equal(outcome, 'complete')
  assert.ok(Buffer.concat(chunks).equals(data.subarray(1000)))
  const ranges = a.stats('/f.bin').ranges
  assert.equal(ranges.length, 3)
  assert.equal(ranges[1], `bytes=1000-${data.length - 1}`)
  assert.match(ranges[2] ?? '', new RegExp(`^bytes=(\\d+)-${data.length - 1}$`))
  assert.equal(Number(/=(\d+)-/.exec(ranges[2] ?? '')?.[1]), 1000 + 100_000, 'resumed at the first byte not received')

  a.setFile('/g.bin', { data, faults: { perRequest: (n) => n === 2 ? { dropAfterBytes: 50_000 } : undefined } })
  a.setRedirect('/g', { status: 307, location: '/g.bin' })
  const before = await reader.probe(a.url('/g'), {}, undefined, signal())
  assert.equal(before.kind, 'ranged')
  let changed = false
  const read = readRangeResuming(reader, { url: a.url('/g'), headers: {}, startBytes: 0, endBytes: data.length - 1, validators: before.kind === 'ranged' ? before.validators : undefined, attempts: 3, signal: signal() }, () => {
    if (!changed) { changed = true; a.setFile('/g.bin', { data: createTestData(data.length, 5) }) }
  })
  await assert.rejects(read, (err: unknown) => isCode(err, 'DF_ERR_SOURCE_CHANGED'))
  assert.equal(a.stats('/g.bin').requests, 3, 'probe, the dropped read, the resumed read that saw the new version')
})

test('credential headers are recognised by name', () => {
  for (const name of ['Authorization', 'cookie', 'Proxy-Authorization', 'X-Api-Key', 'Private-Token', 'X-Auth-Token', 'X-Amz-Security-Token', 'X-Session-Id']) assert.equal(isCredentialHeader(name), true, name)
  for (const name of ['Accept', 'User-Agent', 'X-Trace', 'Range', 'If-Range']) assert.equal(isCredentialHeader(name), false, name)
})
