import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import { access, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { createTestData } from '../../../test/harness/origin.js'
import { createSilentLogger } from '../../common/log.js'
import { HttpClient } from '../../common/http/client.js'
import { isCode } from '../../protocol/errors.js'
import { computeTaskId } from '../../protocol/task-id.js'
import { createHomeLayout } from '../home-layout.js'
import { PeerServer } from './peer-server.js'
import { PeerClient } from './peer-client.js'
import { readPeerServerState } from './peer-server-state.js'

const TASK_ID = computeTaskId({ url: 'http://origin.test/file.bin' })
const CID = 'cid-a'

async function startPeer (t: import('node:test').TestContext, options: { listenHost?: string, aliveTimeMs?: number, expireTimeMs?: number } = {}) {
  const home = await createTmpDir('damselfly-peer-')
  t.after(() => home.close())
  const server = new PeerServer({ logger: createSilentLogger() }, {
    homeDir: home.path,
    listenHost: options.listenHost ?? '127.0.0.1',
    port: 0,
    aliveTimeMs: options.aliveTimeMs ?? 60_000,
    expireTimeMs: options.expireTimeMs ?? 60_000,
    uploadRateBytesPerSec: 0,
  })
  await server.start()
  t.after(() => server.close())
  const client = new PeerClient({ baseUrl: server.localUrl, keepAliveTimeoutMs: 100 })
  t.after(() => client.close())
  return { home: home.path, layout: createHomeLayout(home.path), server, client }
}

/** A supernode stand-in that records every request (a real server we control). */
async function startRecordingSupernode (t: import('node:test').TestContext) {
  const requests: { method: string, url: string }[] = []
  const server = createServer((req: IncomingMessage, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '' })
    req.resume()
    res.writeHead(204).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => { resolve() }) }))
  return { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

async function waitFor (condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setImmediate(resolve))
  }
}

test('serves registered data by range, byte for byte, and writes its state file', async (t) => {
  const { layout, client, server } = await startPeer(t)
  const data = createTestData(3 * 1024 * 1024 + 5, 3)
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, data)
  await client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: data.length, pieceSizeBytes: 1024 * 1024, supernodes: [] })

  for (const [start, end] of [[0, 1024 * 1024 - 1], [1024 * 1024, 2 * 1024 * 1024 - 1], [3 * 1024 * 1024, data.length - 1], [17, 17]] as const) {
    const got = await client.fetchTaskData(TASK_ID, CID, { start, end })
    assert.ok(got.equals(data.subarray(start, end + 1)), `range ${start}-${end}`)
  }
  const status = await client.ping()
  assert.equal(status.peerId, server.peerId)
  assert.equal(status.uploads, 1)
  assert.deepEqual(await readPeerServerState(layout), { pid: process.pid, port: server.port, peerId: server.peerId })
})

test('answers 416 DF_ERR_PIECE_RANGE_INVALID for an unsatisfiable or missing range', async (t) => {
  const { layout, client, server } = await startPeer(t)
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, Buffer.alloc(1000, 7))
  await client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: 1000, pieceSizeBytes: 1000, supernodes: [] })
  await assert.rejects(client.fetchTaskData(TASK_ID, CID, { start: 1000, end: 1999 }),
    (err: unknown) => isCode(err, 'DF_ERR_PIECE_RANGE_INVALID') && err.remote?.status === 416)
  const http = new HttpClient({ keepAliveTimeoutMs: 100 })
  t.after(() => http.close())
  await assert.rejects(http.requestVoid({ url: `${server.localUrl}/peer/tasks/${TASK_ID}/data`, query: { cid: CID } }),
    (err: unknown) => isCode(err, 'DF_ERR_PIECE_RANGE_INVALID'))
})

test('answers 404 DF_ERR_UPLOAD_TASK_NOT_FOUND for a task or cid it does not serve', async (t) => {
  const { layout, client } = await startPeer(t)
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, Buffer.alloc(100))
  await client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: 100, pieceSizeBytes: 100, supernodes: [] })
  const other = computeTaskId({ url: 'http://origin.test/other.bin' })
  await assert.rejects(client.fetchTaskData(other, CID, { start: 0, end: 9 }), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND') && err.remote?.status === 404)
  await assert.rejects(client.fetchTaskData(TASK_ID, 'cid-b', { start: 0, end: 9 }), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
  await client.unregisterUpload(TASK_ID, CID)
  await assert.rejects(client.fetchTaskData(TASK_ID, CID, { start: 0, end: 9 }), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
})

test('never serves a path from a request, and refuses to register files outside its data directory', async (t) => {
  const { home, layout, client, server } = await startPeer(t)
  const secret = join(home, 'secret.txt')
  await writeFile(secret, 'top secret')
  for (const path of [secret, join(layout.dataDir, '..', 'secret.txt'), layout.dataDir, '/etc/passwd']) {
    await assert.rejects(client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: 10, pieceSizeBytes: 10, supernodes: [] }),
      (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'), path)
  }
  const http = new HttpClient({ keepAliveTimeoutMs: 100 })
  t.after(() => http.close())
  for (const taskPart of ['..%2F..%2Fsecret.txt', '..%2Fsecret.txt', encodeURIComponent(secret)]) {
    await assert.rejects(http.fetchRange({ url: `${server.localUrl}/peer/tasks/${taskPart}/data`, query: { cid: CID }, start: 0, end: 3 }),
      (err: unknown) => err instanceof Error && 'code' in err && (err.code === 'DF_ERR_UPLOAD_TASK_NOT_FOUND' || err.code === 'DF_ERR_ARG_ROUTE_NOT_FOUND'))
  }
})

test('accepts upload control from loopback callers only', async (t) => {
  const address = Object.values(networkInterfaces()).flat().find((i) => i !== undefined && i.family === 'IPv4' && !i.internal)?.address
  if (address === undefined) {
    t.skip('this host has no non-loopback IPv4 address')
    return
  }
  const { layout, server } = await startPeer(t, { listenHost: '0.0.0.0' })
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, Buffer.alloc(100, 1))
  const remote = new PeerClient({ baseUrl: `http://${address}:${server.port}`, keepAliveTimeoutMs: 100 })
  t.after(() => remote.close())
  const request = { taskId: TASK_ID, cid: CID, path, fileLengthBytes: 100, pieceSizeBytes: 100, supernodes: [] }
  await assert.rejects(remote.registerUpload(request), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED'))
  const local = new PeerClient({ baseUrl: server.localUrl, keepAliveTimeoutMs: 100 })
  t.after(() => local.close())
  await local.registerUpload(request)
  // Data is for everyone; control is not.
  assert.equal((await remote.fetchTaskData(TASK_ID, CID, { start: 0, end: 9 })).length, 10)
  await assert.rejects(remote.unregisterUpload(TASK_ID, CID), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED'))
})

test('after alivetime without work it tells its supernodes it is going, removes its state file and stops', async (t) => {
  const supernode = await startRecordingSupernode(t)
  const { layout, client, server } = await startPeer(t, { aliveTimeMs: 300 })
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, Buffer.alloc(100))
  await client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: 100, pieceSizeBytes: 100, supernodes: [supernode.baseUrl] })
  assert.equal(await server.whenStopped(), 'idle')
  assert.ok(supernode.requests.some((r) => r.method === 'DELETE' && r.url === `/api/v1/peers/${server.peerId}`), JSON.stringify(supernode.requests))
  assert.equal(await readPeerServerState(layout), undefined)
  await assert.rejects(access(path), 'the served data is cleaned up')
  await assert.rejects(client.ping(), (err: unknown) => isCode(err, 'DF_ERR_NETWORK'))
})

test('closing it (SIGTERM in dfget server) tells its supernodes it is going before it stops', async (t) => {
  const supernode = await startRecordingSupernode(t)
  const { layout, client, server } = await startPeer(t)
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, Buffer.alloc(100))
  await client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: 100, pieceSizeBytes: 100, supernodes: [supernode.baseUrl] })
  await server.close()
  assert.equal(await server.whenStopped(), 'closed')
  assert.ok(supernode.requests.some((r) => r.method === 'DELETE' && r.url === `/api/v1/peers/${server.peerId}`), JSON.stringify(supernode.requests))
  assert.equal(await readPeerServerState(layout), undefined)
})

test('deletes a data file unused for expiretime and tells the supernode this cid no longer holds it', async (t) => {
  const supernode = await startRecordingSupernode(t)
  const { layout, client, server } = await startPeer(t, { expireTimeMs: 200 })
  const path = join(layout.dataDir, `${TASK_ID}-${CID}`)
  await writeFile(path, Buffer.alloc(100))
  await client.registerUpload({ taskId: TASK_ID, cid: CID, path, fileLengthBytes: 100, pieceSizeBytes: 100, supernodes: [supernode.baseUrl] })
  await waitFor(async () => await access(path).then(() => false, () => true), 'the data file to expire')
  await waitFor(() => supernode.requests.some((r) => r.method === 'DELETE' && r.url === `/api/v1/tasks/${TASK_ID}?cid=${CID}`), 'the supernode to be told')
  assert.equal((await client.ping()).uploads, 0)
  assert.equal(server.port > 0, true)
})

test('stops when its state file is gone (its home was removed): no dfget could find it again', async (t) => {
  const { layout, server } = await startPeer(t, { expireTimeMs: 200 })
  await rm(layout.statePath)
  assert.equal(await server.whenStopped(), 'idle')
})
