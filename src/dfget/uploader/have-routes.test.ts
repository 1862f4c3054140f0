import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { createSilentLogger } from '../../common/log.js'
import { HttpClient } from '../../common/http/client.js'
import { isCode } from '../../protocol/errors.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import { formatGrantKey, generateGrantKeyPair, signPieceGrant } from '../../protocol/piece-grant.js'
import { computeTaskId } from '../../protocol/task-id.js'
import type { Parent } from '../../protocol/messages/sync-task.js'
import { createHomeLayout } from '../home-layout.js'
import { PeerServer } from './peer-server.js'
import { createHttpParentPort, PeerClient } from './peer-client.js'

const TASK_ID = computeTaskId({ url: 'http://origin.test/haves.bin' })
const PIECE_BYTES = 1024 * 1024

async function startServedDownload (t: import('node:test').TestContext, options: { grantKey?: string } = {}) {
  const home = await createTmpDir('damselfly-peer-')
  t.after(() => home.close())
  const server = new PeerServer({ logger: createSilentLogger() }, { homeDir: home.path, listenHost: '127.0.0.1', port: 0, aliveTimeMs: 60_000, expireTimeMs: 60_000, uploadRateBytesPerSec: 0 })
  await server.start()
  t.after(() => server.close())
  const client = new PeerClient({ baseUrl: server.localUrl, keepAliveTimeoutMs: 100 })
  t.after(() => client.close())
  const path = join(createHomeLayout(home.path).dataDir, 'haves.data')
  await writeFile(path, Buffer.alloc(4 * PIECE_BYTES))
  await client.registerUpload({ taskId: TASK_ID, cid: 'parent', path, fileLengthBytes: 4 * PIECE_BYTES, pieceSizeBytes: PIECE_BYTES, supernodes: [], ...(options.grantKey === undefined ? {} : { grantKeys: [options.grantKey] }) })
  const http = new HttpClient({ keepAliveTimeoutMs: 100 })
  t.after(() => http.close())
  const parent: Parent = { peerId: server.peerId, cid: 'parent', url: `${server.localUrl}/peer/tasks/${TASK_ID}/data?cid=parent`, havesUrl: `${server.localUrl}/peer/tasks/${TASK_ID}/haves?cid=parent`, complete: false }
  return { server, client, port: createHttpParentPort(http), parent }
}

test('a child reads a parent\'s bitmap at once, then long-polls it until the parent\'s dfget announces pieces; a finished file says complete', async (t) => {
  const { client, port, parent } = await startServedDownload(t)
  const signal = AbortSignal.timeout(10_000)
  const first = await port.fetchHaves(parent, 0, 5_000, undefined, signal)
  assert.equal(PieceBitset.fromBase64(first.held, 4)?.count, 0)
  assert.equal(first.complete, false)
  const waiting = port.fetchHaves(parent, first.seq, 5_000, undefined, signal)
  await client.announcePieces(TASK_ID, 'parent', [2, 0])
  const next = await waiting
  assert.ok(next.seq > first.seq)
  assert.deepEqual(PieceBitset.fromBase64(next.held, 4)?.toArray(), [0, 2])
  // Nothing new: the request is held for waitMs and answers the same bitmap.
  const quiet = await port.fetchHaves(parent, next.seq, 50, undefined, signal)
  assert.equal(quiet.seq, next.seq)
  await client.announcePieces(TASK_ID, 'parent', [1, 3])
  const done = await port.fetchHaves(parent, next.seq, 5_000, undefined, signal)
  assert.equal(done.complete, true)
  // The upload withdrawn: its feed is gone, also for a child that was waiting on it.
  const gone = port.fetchHaves(parent, done.seq, 5_000, undefined, signal)
  await client.unregisterUpload(TASK_ID, 'parent')
  await assert.rejects(gone, (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
  await assert.rejects(client.announcePieces(TASK_ID, 'parent', [0]), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
})

test('the have feed of a private task needs the task\'s grant, like its pieces', async (t) => {
  const keys = generateGrantKeyPair()
  const { port, parent, server } = await startServedDownload(t, { grantKey: formatGrantKey(keys.privateKey) })
  const signal = AbortSignal.timeout(10_000)
  await assert.rejects(port.fetchHaves(parent, 0, 0, undefined, signal), (err: unknown) => isCode(err, 'DF_ERR_PIECE_GRANT_REQUIRED'))
  const otherTask = signPieceGrant({ taskId: computeTaskId({ url: 'http://origin.test/other.bin' }), peerId: 'child', cid: 'c', expiresAtMs: Date.now() + 60_000 }, keys.privateKey)
  await assert.rejects(port.fetchHaves(parent, 0, 0, otherTask, signal), (err: unknown) => isCode(err, 'DF_ERR_PIECE_GRANT_INVALID'))
  const grant = signPieceGrant({ taskId: TASK_ID, peerId: 'child', cid: 'c', expiresAtMs: Date.now() + 60_000 }, keys.privateKey)
  const answer = await port.fetchHaves(parent, 0, 0, grant, signal)
  assert.equal(PieceBitset.fromBase64(answer.held, 4)?.count, 0)
  assert.ok(server.peerId.length > 0)
  await assert.rejects(port.fetchHaves({ ...parent, havesUrl: parent.havesUrl.replace('cid=parent', 'cid=nobody') }, 0, 0, grant, signal), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
})
