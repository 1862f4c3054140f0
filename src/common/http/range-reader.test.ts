import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { RangeReader } from './range-reader.js'
import { createHttpServer, listenHttpServer, formatBaseUrl } from './server.js'
import { createSilentLogger } from '../log.js'
import { DfError, isCode } from '../../protocol/errors.js'
import { startOrigin, createTestData } from '../../../test/harness/origin.js'

async function listen (t: import('node:test').TestContext, server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const sockets = new Set<Socket>()
  server.on('connection', (socket) => { sockets.add(socket); socket.once('close', () => sockets.delete(socket)) })
  t.after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

test('ranges are read into the caller\'s buffer, byte for byte, over one kept-alive connection', async (t) => {
  const data = createTestData(3 * 1024 * 1024 + 17, 7)
  const origin = await startOrigin({ files: { '/f.bin': { data } } })
  t.after(() => origin.close())
  const reader = new RangeReader({ timeoutMs: 2_000, connectionsPerOrigin: 1 })
  t.after(() => reader.close())
  for (const [start, length] of [[0, 1], [0, 1024 * 1024], [1024 * 1024, 1024 * 1024], [3 * 1024 * 1024, 17], [5, 300_000]] as const) {
    const target = Buffer.alloc(length, 0xaa)
    await reader.readInto({ url: origin.url('/f.bin'), start, target })
    assert.ok(target.equals(data.subarray(start, start + length)), `range ${start}+${length}`)
  }
  assert.equal(origin.stats('/f.bin').requests, 5)
})

test('an error answer in our error shape becomes the same DfError; an answer that is not the range fails and the connection is not reused', async (t) => {
  const app = createHttpServer({ logger: createSilentLogger() })
  app.get('/gone', async () => { throw new DfError('DF_ERR_PIECE_NOT_AVAILABLE', 'piece 3 is not cached yet') })
  app.get('/whole', async (_request, reply) => await reply.status(200).send(Buffer.alloc(10)))
  app.get('/short', async (_request, reply) => await reply.status(206).header('content-range', 'bytes 0-4/10').send(Buffer.alloc(5)))
  app.get('/other', async (_request, reply) => await reply.status(206).header('content-range', 'bytes 1-10/20').send(Buffer.alloc(10)))
  const address = await listenHttpServer(app, '127.0.0.1', 0)
  t.after(() => app.close())
  const base = formatBaseUrl('127.0.0.1', address.port)
  const reader = new RangeReader({ timeoutMs: 2_000 })
  t.after(() => reader.close())
  const target = Buffer.alloc(10)
  await assert.rejects(reader.readInto({ url: `${base}/gone`, start: 0, target }), (err: unknown) => {
    assert.ok(isCode(err, 'DF_ERR_PIECE_NOT_AVAILABLE'))
    assert.equal(err.remote?.status, 404)
    assert.equal(err.message, 'piece 3 is not cached yet')
    return true
  })
  await assert.rejects(reader.readInto({ url: `${base}/whole`, start: 0, target }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK') && /expected 206/.test(err.message))
  await assert.rejects(reader.readInto({ url: `${base}/short`, start: 0, target }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK') && /not the range/.test(err.message))
  await assert.rejects(reader.readInto({ url: `${base}/other`, start: 0, target }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK') && /not the range/.test(err.message))
  await assert.rejects(reader.readInto({ url: `${base}/gone`, start: 0, target, headers: { 'x-bad': 'a\r\nb: c' } }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'))
})

test('a body cut short is DF_ERR_NETWORK, a silent server DF_ERR_TIMEOUT, a refused connection DF_ERR_NETWORK', async (t) => {
  const data = createTestData(1024 * 1024, 9)
  const origin = await startOrigin({ files: { '/drop.bin': { data, faults: { dropAfterBytes: 1000 } }, '/slow.bin': { data, faults: { delayMs: 2_000 } } } })
  t.after(() => origin.close())
  const reader = new RangeReader({ timeoutMs: 300, connectTimeoutMs: 1_000 })
  t.after(() => reader.close())
  const target = Buffer.alloc(64 * 1024)
  await assert.rejects(reader.readInto({ url: origin.url('/drop.bin'), start: 0, target }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK'))
  await assert.rejects(reader.readInto({ url: origin.url('/slow.bin'), start: 0, target }), (err: unknown) => isCode(err, 'DF_ERR_TIMEOUT'))
  const closed = createServer()
  const url = await listen(t, closed)
  await new Promise((resolve) => closed.close(resolve))
  await assert.rejects(reader.readInto({ url: `${url}/x`, start: 0, target }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK'))
})

test('a kept-alive connection the server closed meanwhile is replaced without failing the read; an abort ends a read at once', async (t) => {
  const data = createTestData(256 * 1024, 3)
  let requests = 0
  const server = createServer((request, response) => {
    requests += 1
    const match = /bytes=(\d+)-(\d+)/.exec(request.headers.range ?? '')
    const start = Number(match?.[1] ?? 0)
    const end = Number(match?.[2] ?? 0)
    if (request.url === '/hang') return // never answers
    response.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${data.length}` })
    response.end(data.subarray(start, end + 1))
  })
  server.keepAliveTimeout = 100
  const base = await listen(t, server)
  const reader = new RangeReader({ timeoutMs: 2_000, keepAliveTimeoutMs: 10_000, connectionsPerOrigin: 1 })
  t.after(() => reader.close())
  const target = Buffer.alloc(1000)
  await reader.readInto({ url: `${base}/f`, start: 0, target })
  await new Promise((resolve) => setTimeout(resolve, 300)) // the server closes the idle connection
  await reader.readInto({ url: `${base}/f`, start: 1000, target })
  assert.ok(target.equals(data.subarray(1000, 2000)))
  assert.equal(requests, 2)

  const abort = new AbortController()
  const started = Date.now()
  setTimeout(() => { abort.abort(new DfError('DF_ERR_INTERNAL', 'stop')) }, 100)
  await assert.rejects(reader.readInto({ url: `${base}/hang`, start: 0, target, signal: abort.signal }), (err: unknown) => isCode(err, 'DF_ERR_INTERNAL') && err.message === 'stop')
  assert.ok(Date.now() - started < 1_500)
  // The slot the aborted read held is free again.
  await reader.readInto({ url: `${base}/f`, start: 0, target })
  assert.ok(target.equals(data.subarray(0, 1000)))
})
