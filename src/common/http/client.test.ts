import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { once } from 'node:events'
import { Type } from '@sinclair/typebox'
import { HttpClient } from './client.js'
import { createHttpServer, listenHttpServer, formatBaseUrl } from './server.js'
import { createSilentLogger } from '../log.js'
import { DfError, isCode } from '../../protocol/errors.js'
import { createParser } from '../../protocol/schema-parser.js'
import { startOrigin, createTestData } from '../../../test/harness/origin.js'

const parseOk = createParser(Type.Object({ ok: Type.Boolean() }), 'body')

async function startApp (t: import('node:test').TestContext) {
  const app = createHttpServer({ logger: createSilentLogger() })
  app.get('/ok', async () => ({ ok: true }))
  app.get('/missing', async () => { throw new DfError('DF_ERR_TASK_NOT_FOUND', 'no task abc') })
  app.get('/bug', async () => { throw new Error('secret internal detail') })
  app.post('/typed', { schema: { body: Type.Object({ n: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }) } }, async () => ({ ok: true }))
  const address = await listenHttpServer(app, '127.0.0.1', 0)
  t.after(() => app.close())
  const client = new HttpClient({ timeoutMs: 2_000 })
  t.after(() => client.close())
  return { base: formatBaseUrl('127.0.0.1', address.port), client }
}

test('a DfError thrown by a route reaches the client with the same code and remote facts', async (t) => {
  const { base, client } = await startApp(t)
  assert.deepEqual(await client.requestJson({ url: `${base}/ok` }, parseOk), { ok: true })
  await assert.rejects(client.requestJson({ url: `${base}/missing` }, parseOk), (err: unknown) => {
    assert.ok(isCode(err, 'DF_ERR_TASK_NOT_FOUND'))
    assert.equal(err.remote?.status, 404)
    assert.equal(err.message, 'no task abc')
    return true
  })
})

test('schema violations are 400 DF_ERR_ARG_INVALID naming the field; unknown routes 404; bugs an opaque 500', async (t) => {
  const { base, client } = await startApp(t)
  await assert.rejects(client.requestJson({ method: 'POST', url: `${base}/typed`, json: { n: 0 } }, parseOk), (err: unknown) => {
    assert.ok(isCode(err, 'DF_ERR_ARG_INVALID'))
    assert.equal(err.details?.field, 'body.n')
    return true
  })
  await assert.rejects(client.requestJson({ method: 'POST', url: `${base}/typed`, json: { n: 1, extra: 1 } }, parseOk), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.extra')
  await assert.rejects(client.requestJson({ url: `${base}/nowhere` }, parseOk), (err: unknown) => isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND') && err.remote?.status === 404)
  await assert.rejects(client.requestJson({ url: `${base}/bug` }, parseOk), (err: unknown) => {
    assert.ok(isCode(err, 'DF_ERR_INTERNAL'))
    assert.equal(err.message, 'internal error')
    return true
  })
})

test('refused connections are DF_ERR_NETWORK, stalled answers DF_ERR_TIMEOUT, foreign statuses keep the status', async (t) => {
  const client = new HttpClient({ timeoutMs: 300, connectTimeoutMs: 1_000 })
  t.after(() => client.close())
  const closed = createServer()
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
  const port = (closed.address() as AddressInfo).port
  await new Promise<void>((resolve) => closed.close(() => { resolve() }))
  await assert.rejects(client.requestVoid({ url: `http://127.0.0.1:${port}/` }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK'))

  const origin = await startOrigin({ files: { '/slow': { data: Buffer.from('x'), faults: { delayMs: 2_000 } }, '/gone': { data: Buffer.from('x'), faults: { status: 410 } } } })
  t.after(() => origin.close())
  await assert.rejects(client.requestVoid({ url: origin.url('/slow') }), (err: unknown) => isCode(err, 'DF_ERR_TIMEOUT'))
  await assert.rejects(client.requestVoid({ url: origin.url('/gone'), foreignStatusCode: 'DF_ERR_SOURCE_STATUS' }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 410)
})

test('fetchRange returns exactly the bytes asked for and rejects a cut-short body', async (t) => {
  const data = createTestData(300_000)
  const origin = await startOrigin({ files: { '/f': { data }, '/cut': { data, faults: { dropAfterBytes: 1000 } }, '/norange': { data, faults: { ignoreRange: true } } } })
  t.after(() => origin.close())
  const client = new HttpClient({ timeoutMs: 2_000 })
  t.after(() => client.close())
  const got = await client.fetchRange({ url: origin.url('/f'), start: 1000, end: 250_000 })
  assert.ok(got.equals(data.subarray(1000, 250_001)))
  await assert.rejects(client.fetchRange({ url: origin.url('/cut'), start: 0, end: 99_999 }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK'))
  await assert.rejects(client.fetchRange({ url: origin.url('/norange'), start: 0, end: 9 }), (err: unknown) => isCode(err, 'DF_ERR_NETWORK') && err.remote?.status === 200)
})

test('a body not read yet survives the server closing the connection after its last byte (Content-Length or none)', { timeout: 10_000 }, async (t) => {
  // A body of exactly the reader's high-water mark, unread: undici pauses its parser on the
  // last byte, then the server's FIN arrives. Without the body-end guard undici's socket
  // 'end' handler throws an AssertionError nobody can catch (nodejs/undici#5360).
  const body = createTestData(64 * 1024, 5)
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.once('data', (request) => {
      const framing = request.toString('latin1').startsWith('GET /length') ? `Content-Length: ${body.length}\r\n` : ''
      socket.write(`HTTP/1.1 200 OK\r\n${framing}Connection: close\r\n\r\n`)
      socket.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { server.close(() => { resolve() }); for (const socket of sockets) socket.destroy() }))
  const client = new HttpClient({ timeoutMs: 5_000 })
  t.after(() => client.close())
  const port = (server.address() as AddressInfo).port
  for (const path of ['/length', '/eof']) {
    // The connection is gone on both sides once the client has seen the end of the message.
    const connectionClosed = once(server, 'connection').then(async ([socket]) => { await once(socket as Socket, 'close') })
    const response = await client.stream({ url: `http://127.0.0.1:${port}${path}` })
    await connectionClosed
    const chunks: Buffer[] = []
    for await (const chunk of response.body) chunks.push(chunk as Buffer)
    assert.ok(Buffer.concat(chunks).equals(body), path)
  }
})
