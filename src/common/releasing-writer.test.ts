import { test } from 'node:test'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request, type ServerResponse } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import { BufferPool, holdForReader } from './buffer-pool.js'
import { releasingWriter } from './releasing-writer.js'

const MiB = 1024 * 1024

/** Pieces as a stream window hands them to its reader: pooled, each with the reader's hold. */
function pooledPieces (pool: BufferPool, count: number, fill: (k: number) => number): Buffer[] {
  return Array.from({ length: count }, (_, k) => {
    const shared = pool.acquireShared(MiB)
    shared.bytes.fill(fill(k))
    holdForReader(shared.bytes, shared)
    shared.release() // the window's own hold: the reader's is the last
    return shared.bytes
  })
}

async function withServer (handler: (res: ServerResponse) => Promise<void>, read: (port: number) => Promise<void>): Promise<void> {
  const server = createServer((_req, res) => { handler(res).catch(() => undefined) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    await read((server.address() as AddressInfo).port)
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

test('an HTTP response sent through a releasing writer arrives whole, and every piece goes back to the pool once written', async () => {
  const pool = new BufferPool({ maxIdleBytes: 16 * MiB })
  let served: Promise<void> | undefined
  await withServer(async (res) => {
    res.writeHead(200, { 'content-length': String(8 * MiB) })
    const pieces = pooledPieces(pool, 8, (k) => k + 1)
    served = pipeline(Readable.from(pieces), releasingWriter(res, { endTarget: true, gone: () => new Error('gone') }))
    await served
  }, async (port) => {
    const req = request({ port, host: '127.0.0.1', path: '/' })
    req.end()
    const [answer] = await once(req, 'response') as [NodeJS.ReadableStream]
    const chunks: Buffer[] = []
    for await (const chunk of answer) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    assert.equal(body.length, 8 * MiB)
    for (let k = 0; k < 8; k += 1) assert.equal(body[k * MiB + 17], k + 1, `piece ${k}`)
  })
  await served
  assert.equal(pool.idleBytes, 8 * MiB, 'every piece is back in the pool')
  const allocated = pool.allocatedBytes
  pool.acquire(MiB)
  assert.equal(pool.allocatedBytes, allocated, 'the next piece reuses one')
})

test('a client that goes away fails the writer (no wait for a drain that never comes); unwritten pieces are never handed out twice', async () => {
  const pool = new BufferPool({ maxIdleBytes: 64 * MiB })
  let outcome: Promise<unknown> | undefined
  await withServer(async (res) => {
    res.writeHead(200, { 'content-length': String(48 * MiB) })
    const pieces = pooledPieces(pool, 48, () => 7)
    outcome = pipeline(Readable.from(pieces), releasingWriter(res, { endTarget: true, gone: () => new Error('the client went away') })).then(() => 'ended', (err: Error) => err.message)
    await outcome
  }, async (port) => {
    const req = request({ port, host: '127.0.0.1', path: '/' })
    req.end()
    const [answer] = await once(req, 'response') as [NodeJS.ReadableStream & { destroy: () => void }]
    answer.destroy() // reads nothing: the server's socket fills, then closes
    req.destroy()
  })
  assert.equal(await outcome, 'the client went away')
  assert.ok(pool.idleBytes < 48 * MiB, 'pieces the socket did not write out stay out of the pool')
})
