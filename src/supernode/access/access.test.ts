/**
 * Every registration proves its own access, and the download port serves a private task
 * only against a grant for it: a supernode in process, an origin that wants credentials,
 * the supernode's client and fetch over loopback.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createTestData, startOrigin, type Origin } from '../../../test/harness/origin.js'
import { startTestSupernode, waitForCdn } from '../../../test/harness/supernode.js'
import { ManualClock } from '../../common/clock.js'
import { isCode } from '../../protocol/errors.js'
import { PIECE_GRANT_HEADER } from '../../protocol/piece-grant.js'
import type { SupernodeClient } from '../client.js'

const MiB = 1024 * 1024
const GOOD = 'Basic dGVuYW50LWE6Z29vZA=='
const WRONG = 'Basic dGVuYW50LWE6d3Jvbmc='

/** The status and body length of a GET of the first `bytes` of a task's data. */
async function getData (dataUrl: string, grant: string | undefined, bytes = 100): Promise<{ status: number, length: number, code?: string, reason?: string }> {
  const response = await fetch(dataUrl, { headers: { range: `bytes=0-${bytes - 1}`, ...(grant === undefined ? {} : { [PIECE_GRANT_HEADER]: grant }) } })
  const body = Buffer.from(await response.arrayBuffer())
  if (response.status < 300) return { status: response.status, length: body.length }
  const error = JSON.parse(body.toString()) as { code: string, details?: { reason?: string } }
  return { status: response.status, length: 0, code: error.code, ...(error.details?.reason === undefined ? {} : { reason: error.details.reason }) }
}

/** Requests of `path` sent without `authorization` (the CDN's revalidation uses the task's proven one): registrations' own probes and reads. */
function requestsWithout (origin: Origin, path: string, authorization: string): number {
  return origin.stats(path).headers.filter((headers) => headers.authorization !== authorization).length
}

/** Requests of `path` without a condition (a finished task's revalidation is conditional): the probes of new sources and the CDN's reads. */
function unconditionalRequests (origin: Origin, path: string): number {
  return origin.stats(path).headers.filter((headers) => headers['if-none-match'] === undefined && headers['if-modified-since'] === undefined).length
}

/** A grant for `cid`: the one its first pieces answer carries. */
async function grantOf (client: SupernodeClient, taskId: string, cid: string): Promise<string> {
  const answer = await client.pullPieceTasks(taskId, { cid, max: 1 })
  assert.equal(answer.result, 'pieces')
  const grant = answer.result === 'pieces' ? answer.pieces[0]?.grant : undefined
  assert.ok(grant !== undefined, 'a pieces answer carries a grant')
  return grant
}

test('a private source: each registration proves its own credentials, a wrong one first spoils nothing, and the data port wants a grant of the task', async (t) => {
  const data = createTestData(3 * MiB, 7)
  const origin = await startOrigin({ files: { '/private.bin': { data, requireAuthorization: GOOD }, '/public.bin': { data: createTestData(MiB, 8) } } })
  t.after(() => origin.close())
  const clock = new ManualClock(Date.now())
  const sn = await startTestSupernode(t, { clock, grantLifetimeMs: 60_000 })
  for (const peerId of ['peer-a', 'peer-b']) await sn.client.registerPeer({ peerId, ip: '127.0.0.1', port: 40001 })
  const url = origin.url('/private.bin')

  // A wrong header registered first fails alone: the next registration starts the task with its own.
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-b', cid: 'wrong-first', url, headers: { Authorization: WRONG } }),
    (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 401)
  const task = await sn.client.registerTask({ peerId: 'peer-a', cid: 'tenant-a', url, headers: { Authorization: GOOD } })
  assert.ok(task.grantKey !== undefined, 'a private task names its grant key')
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')

  // The task is cached: still, a registration without or with wrong credentials is refused, each with its own probe.
  const requestsBefore = requestsWithout(origin, '/private.bin', GOOD)
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-b', cid: 'anonymous', url }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 401)
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-b', cid: 'wrong', url, headers: { Authorization: WRONG } }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 401)
  assert.equal(requestsWithout(origin, '/private.bin', GOOD), requestsBefore + 2, 'each refused registration asked the source with its own credentials')
  await assert.rejects(sn.client.pullPieceTasks(task.taskId, { cid: 'anonymous', max: 1 }), (err: unknown) => isCode(err, 'DF_ERR_TASK_CLIENT_NOT_FOUND'))

  // The data port: no grant 401, a grant of another task or an expired one 403, the task's own grant 206.
  assert.deepEqual(await getData(task.dataUrl, undefined), { status: 401, length: 0, code: 'DF_ERR_PIECE_GRANT_REQUIRED' })
  const publicTask = await sn.client.registerTask({ peerId: 'peer-b', cid: 'public-b', url: origin.url('/public.bin') })
  assert.equal(publicTask.grantKey, undefined, 'a public task needs no grant')
  assert.equal(await waitForCdn(sn.client, publicTask.taskId), 'success')
  assert.deepEqual(await getData(publicTask.dataUrl, undefined), { status: 206, length: 100 }, 'public data stays open')
  const otherGrant = await grantOf(sn.client, publicTask.taskId, 'public-b')
  assert.deepEqual(await getData(task.dataUrl, otherGrant), { status: 403, length: 0, code: 'DF_ERR_PIECE_GRANT_INVALID', reason: 'task' })
  const grant = await grantOf(sn.client, task.taskId, 'tenant-a')
  assert.deepEqual(await getData(task.dataUrl, grant), { status: 206, length: 100 })
  clock.advance(60_001)
  assert.deepEqual(await getData(task.dataUrl, grant), { status: 403, length: 0, code: 'DF_ERR_PIECE_GRANT_INVALID', reason: 'expired' })

  // A second client with good credentials is served.
  const second = await sn.client.registerTask({ peerId: 'peer-b', cid: 'tenant-a-2', url, headers: { Authorization: GOOD } })
  assert.equal(second.taskId, task.taskId)
})

test('a registration naming a cached digest with a bogus or foreign URL gets nothing; the anonymous public source needs no proof', async (t) => {
  const data = createTestData(2 * MiB, 9)
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`
  const registry = await startOrigin({ files: { [`/v2/team/app/blobs/${digest}`]: { data, requireAuthorization: GOOD } } })
  t.after(() => registry.close())
  const foreign = await startOrigin({ files: { '/anything': { data: createTestData(2 * MiB, 10) } } })
  t.after(() => foreign.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'peer-a', ip: '127.0.0.1', port: 40001 })
  const task = await sn.client.registerTask({ peerId: 'peer-a', cid: 'tenant-a', url: registry.url(`/v2/team/app/blobs/${digest}`), digest, headers: { Authorization: GOOD } })
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-a', cid: 'bogus', url: 'http://127.0.0.1:9/nothing', digest }),
    (err: unknown) => isCode(err, 'DF_ERR_SOURCE_NOT_PROVEN'))
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-a', cid: 'foreign', url: foreign.url('/anything'), digest }),
    (err: unknown) => isCode(err, 'DF_ERR_SOURCE_NOT_PROVEN'))
  assert.equal(foreign.stats('/anything').requests, 0, 'a foreign source proves nothing and is not asked')
  // The same registry, another repository: the registry itself says whether this client may read the blob.
  await assert.rejects(sn.client.registerTask({ peerId: 'peer-a', cid: 'other-repo', url: registry.url(`/v2/other/app/blobs/${digest}`), digest, headers: { Authorization: GOOD } }),
    (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 404)
  assert.deepEqual(await getData(task.dataUrl, undefined), { status: 401, length: 0, code: 'DF_ERR_PIECE_GRANT_REQUIRED' })

  const open = await startOrigin({ files: { '/open.bin': { data } } })
  t.after(() => open.close())
  const first = await sn.client.registerTask({ peerId: 'peer-a', cid: 'open-1', url: open.url('/open.bin') })
  assert.equal(first.grantKey, undefined)
  assert.equal(await waitForCdn(sn.client, first.taskId), 'success')
  const requests = unconditionalRequests(open, '/open.bin')
  await sn.client.registerTask({ peerId: 'peer-a', cid: 'open-2', url: open.url('/open.bin') })
  assert.equal(unconditionalRequests(open, '/open.bin'), requests, 'an anonymous registration of a public task costs the source nothing')
})
