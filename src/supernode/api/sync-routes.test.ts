import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../../protocol/errors.js'
import { PieceBitset } from '../../protocol/piece-bitset.js'
import { createTestData, startOrigin } from '../../../test/harness/origin.js'
import { startTestSupernode, type TestSupernode } from '../../../test/harness/supernode.js'

const MiB = 1024 * 1024

/** Registers peers p1…pN on 127.0.0.1 (ports 4001…), each with its cid c1…cN of `url`'s task; returns the task id. */
async function registerCids (sn: TestSupernode, url: string, count: number): Promise<string> {
  let taskId = ''
  for (let n = 1; n <= count; n++) {
    await sn.client.registerPeer({ peerId: `p${n}`, port: 4000 + n, ip: '127.0.0.1' })
    taskId = (await sn.client.registerTask({ peerId: `p${n}`, cid: `c${n}`, url })).taskId
  }
  return taskId
}

test('v2 sync: parents on other hosts with their feeds, the CDN slots and the digests (no grant for a public task); a corrupt parent is nobody\'s parent any more', async (t) => {
  const origin = await startOrigin({ files: { '/m.bin': { data: createTestData(6 * MiB, 81) } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const url = origin.url('/m.bin')
  const taskId = await registerCids(sn, url, 3)
  const empty = new PieceBitset(6).toBase64()
  const first = await sn.client.syncTask(taskId, { cid: 'c1', held: empty, digestsFrom: 0, digestsKnown: 0, waitMs: 10_000 })
  assert.deepEqual(first.parents.map((parent) => parent.cid).sort(), ['c2', 'c3'])
  const c2 = first.parents.find((parent) => parent.cid === 'c2')
  assert.equal(c2?.url, `http://127.0.0.1:4002/peer/tasks/${taskId}/data?cid=c2`)
  assert.equal(c2?.havesUrl, `http://127.0.0.1:4002/peer/tasks/${taskId}/haves?cid=c2`)
  assert.ok(first.supernode.slots >= 1)
  assert.ok(first.supernode.url.endsWith(`/tasks/${taskId}/data`))
  // A public task's pieces need no grant (peer servers check them for private tasks only): none is signed.
  assert.equal(first.grant, undefined)
  assert.equal(first.digestsFrom, 0)
  assert.ok(first.digests.some((digest) => /^sha256:[0-9a-f]{64}$/.test(digest)))
  // c1 says c2 served a corrupt piece: c2 is nobody's parent in this task any more.
  const after = await sn.client.syncTask(taskId, { cid: 'c1', held: empty, digestsFrom: 0, digestsKnown: 0, failures: [{ sourcePeerId: 'p2', pieceNum: 1, reason: 'DF_ERR_PIECE_DIGEST_MISMATCH' }] })
  assert.deepEqual(after.parents.map((parent) => parent.cid), ['c3'])
  const other = await sn.client.syncTask(taskId, { cid: 'c3', held: empty, digestsFrom: 0, digestsKnown: 0 })
  assert.deepEqual(other.parents.map((parent) => parent.cid), ['c1'])
  // A finished cid: its bitmap full, it needs no parents, and the others see it complete.
  await sn.client.syncTask(taskId, { cid: 'c1', held: PieceBitset.full(6).toBase64(), digestsFrom: 6, digestsKnown: 6, complete: true, received: { supernodePieces: 6, supernodeBytes: 6 * MiB, peerPieces: 0, peerBytes: 0 } })
  const seeded = await sn.client.syncTask(taskId, { cid: 'c3', held: empty, digestsFrom: 0, digestsKnown: 0 })
  assert.equal(seeded.parents.find((parent) => parent.cid === 'c1')?.complete, true)
  const info = await sn.client.getTask(taskId)
  assert.equal(info.clients.find((client) => client.cid === 'c1')?.status, 'success')
  assert.equal(info.clients.find((client) => client.cid === 'c1')?.bytesFromSupernode, 6 * MiB)
  const metrics = await sn.client.fetchMetricsText()
  assert.match(metrics, /dragonfly_supernode_api_requests_total\{version="v2"\} 5/)
  assert.match(metrics, /dragonfly_supernode_piece_reports_total\{source="peer",result="failed"\} 1/)
})

test('v2 sync refuses a bitmap of another size, an unknown cid and an unknown task with codes', async (t) => {
  const origin = await startOrigin({ files: { '/n.bin': { data: createTestData(3 * MiB, 82) } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'p1', port: 4001 })
  const { taskId } = await sn.client.registerTask({ peerId: 'p1', cid: 'c1', url: origin.url('/n.bin') })
  await assert.rejects(sn.client.syncTask(taskId, { cid: 'c1', held: new PieceBitset(30).toBase64(), digestsFrom: 0, digestsKnown: 0 }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.held')
  await assert.rejects(sn.client.syncTask(taskId, { cid: 'nobody', held: new PieceBitset(3).toBase64(), digestsFrom: 0, digestsKnown: 0 }), (err: unknown) => isCode(err, 'DF_ERR_TASK_CLIENT_NOT_FOUND') && err.remote?.status === 404)
  await assert.rejects(sn.client.syncTask('0'.repeat(64), { cid: 'c1', held: '', digestsFrom: 0, digestsKnown: 0 }), (err: unknown) => isCode(err, 'DF_ERR_TASK_NOT_FOUND'))
  await assert.rejects(sn.client.syncTask(taskId, { cid: 'c1', held: new PieceBitset(3).toBase64(), digestsFrom: 0, digestsKnown: 0, waitMs: 90_000 }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.waitMs')
})

test('v2 sync shares the CDN out: each piece the swarm lacks is leased to one cid; a cid that wants more gets the share of one that left', async (t) => {
  const origin = await startOrigin({ files: { '/s.bin': { data: createTestData(8 * MiB, 83) } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const url = origin.url('/s.bin')
  const taskId = await registerCids(sn, url, 4)
  const empty = new PieceBitset(8).toBase64()
  for (let known = 0; !(await sn.client.syncTask(taskId, { cid: 'c1', held: empty, digestsFrom: 0, digestsKnown: known, waitMs: 10_000 })).supernode.cachedAll;) known += 1
  const shares = new Map<string, number[]>()
  for (const cid of ['c1', 'c2', 'c3', 'c4']) {
    const answer = await sn.client.syncTask(taskId, { cid, held: empty, digestsFrom: 0, digestsKnown: 8 })
    const share = PieceBitset.fromBase64(answer.supernode.cdnPieces ?? '', 8)
    assert.ok(share !== undefined, `${cid} got a share`)
    shares.set(cid, share.toArray())
  }
  const all = [...shares.values()].flat().sort((a, b) => a - b)
  assert.deepEqual(all, [0, 1, 2, 3, 4, 5, 6, 7], `every piece leased once: ${JSON.stringify([...shares])}`)
  // c1 fetched its share: the pieces are in the swarm now, and nobody else's to lend; it wants more and waits.
  const c1Held = new PieceBitset(8)
  for (const pieceNum of shares.get('c1') ?? []) c1Held.add(pieceNum)
  const started = Date.now()
  const waited = await sn.client.syncTask(taskId, { cid: 'c1', held: c1Held.toBase64(), digestsFrom: 8, digestsKnown: 8, cdnWanted: true, waitMs: 300 })
  assert.ok(Date.now() - started >= 250, 'nothing to hand out: the long-poll waited')
  assert.equal(PieceBitset.fromBase64(waited.supernode.cdnPieces ?? '', 8)?.count, 0)
  // c2 leaves: its share goes to c1, whose long-poll is answered at once.
  const wanting = sn.client.syncTask(taskId, { cid: 'c1', held: c1Held.toBase64(), digestsFrom: 8, digestsKnown: 8, cdnWanted: true, waitMs: 10_000 })
  await new Promise((resolve) => setTimeout(resolve, 100))
  await sn.client.deleteTask(taskId, 'c2')
  const grown = PieceBitset.fromBase64((await wanting).supernode.cdnPieces ?? '', 8)
  assert.deepEqual(grown?.toArray(), shares.get('c2'))
  assert.match(await sn.client.fetchMetricsText(), /dragonfly_supernode_sync_answers_total\{why="cdn"\} 1/)
})

test('v2 sync: past supernodeMaxUploads downloads receiving, one without a CDN share gets no CDN slot (the CDN is not every host\'s last resort); with fewer, its part', async (t) => {
  const origin = await startOrigin({ files: { '/q.bin': { data: createTestData(4 * MiB, 84) } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t, { supernodeMaxUploads: 2 })
  const url = origin.url('/q.bin')
  const taskId = await registerCids(sn, url, 4)
  const empty = new PieceBitset(4).toBase64()
  for (let known = 0; !(await sn.client.syncTask(taskId, { cid: 'c1', held: empty, digestsFrom: 0, digestsKnown: known, waitMs: 10_000 })).supernode.cachedAll;) known += 1
  // c1 holds every piece: nothing is left to lease, and c2, c3, c4 (3 > 2) still receive.
  const full = PieceBitset.full(4).toBase64()
  await sn.client.syncTask(taskId, { cid: 'c1', held: full, digestsFrom: 4, digestsKnown: 4, complete: true })
  const crowded = await sn.client.syncTask(taskId, { cid: 'c2', held: empty, digestsFrom: 0, digestsKnown: 4 })
  assert.equal(PieceBitset.fromBase64(crowded.supernode.cdnPieces ?? '', 4)?.count, 0)
  assert.equal(crowded.supernode.slots, 0)
  // c3 and c4 finish: c2 alone receives, and has the CDN's slots.
  for (const cid of ['c3', 'c4']) await sn.client.syncTask(taskId, { cid, held: full, digestsFrom: 4, digestsKnown: 4, complete: true })
  const alone = await sn.client.syncTask(taskId, { cid: 'c2', held: empty, digestsFrom: 0, digestsKnown: 4 })
  assert.equal(alone.supernode.slots, 2)
})
