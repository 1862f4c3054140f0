/**
 * The metrics of access checks (issue 16), read over real HTTP after real refusals: the
 * supernode counts registrations' source access checks by result and the piece grants its
 * download port refused by reason; a peer server counts the grants it refused. No label and
 * no line of either /metrics text carries a credential.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { createSilentLogger } from '../src/common/log.js'
import { isCode } from '../src/protocol/errors.js'
import { fillPath, PEER_PATHS, SUPERNODE_DATA_PATHS } from '../src/protocol/paths.js'
import { PIECE_GRANT_HEADER, signPieceGrant } from '../src/protocol/piece-grant.js'
import { GRANT_KEY_FILE_NAME } from '../src/supernode/supernode.js'
import { PeerServer } from '../src/dfget/uploader/peer-server.js'
import { PeerClient } from '../src/dfget/uploader/peer-client.js'
import { createTestData, startOrigin } from './harness/origin.js'
import { metricValue, startTestSupernode } from './harness/supernode.js'
import { createTmpDir } from './harness/tmp-dir.js'

const GOOD_AUTH = 'Basic Z29vZDpzZWNyZXQtb25l'
const WRONG_AUTH = 'Basic d3Jvbmc6c2VjcmV0LXR3bw=='
const FILE_BYTES = 64 * 1024

/** Status of a GET of `url` with a grant header (or none). */
async function fetchStatus (url: string, grant: string | undefined, range = 'bytes=0-99'): Promise<number> {
  const response = await request(url, { headers: { range, ...(grant === undefined ? {} : { [PIECE_GRANT_HEADER]: grant }) } })
  await response.body.dump()
  return response.statusCode
}

test('the supernode counts access checks by result and refused grants by reason, a peer server its refused grants; no credential in any label', async (t) => {
  const origin = await startOrigin({
    files: {
      '/public.bin': { data: createTestData(FILE_BYTES, 171) },
      '/private.bin': { data: createTestData(FILE_BYTES, 172), requireAuthorization: GOOD_AUTH },
      '/private-2.bin': { data: createTestData(FILE_BYTES, 173), requireAuthorization: GOOD_AUTH },
    },
  })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const client = sn.client
  await client.registerPeer({ peerId: 'peer-a', ip: '127.0.0.1', port: 9 })

  // Access checks: the first anonymous registration of a public file is proven by the CDN's
  // read, the next finds the task public; the private file's first registration is proven,
  // the same credentials again cached, wrong and missing credentials refused.
  await client.registerTask({ peerId: 'peer-a', cid: 'pub-1', url: origin.url('/public.bin') })
  await client.registerTask({ peerId: 'peer-a', cid: 'pub-2', url: origin.url('/public.bin') })
  const privateTask = await client.registerTask({ peerId: 'peer-a', cid: 'priv-1', url: origin.url('/private.bin'), headers: { Authorization: GOOD_AUTH } })
  await client.registerTask({ peerId: 'peer-a', cid: 'priv-2', url: origin.url('/private.bin'), headers: { Authorization: GOOD_AUTH } })
  for (const [cid, headers] of [['wrong', { Authorization: WRONG_AUTH }], ['none', {}]] as const) {
    await assert.rejects(client.registerTask({ peerId: 'peer-a', cid, url: origin.url('/private.bin'), headers }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS'))
  }
  const otherTask = await client.registerTask({ peerId: 'peer-a', cid: 'priv-3', url: origin.url('/private-2.bin'), headers: { Authorization: GOOD_AUTH } })

  // Grants: a real one, pulled for the private task once its pieces are cached.
  let grant: string | undefined
  for (let i = 0; i < 100 && grant === undefined; i++) {
    const pulled = await client.pullPieceTasks(privateTask.taskId, { cid: 'priv-1', waitMs: 200 })
    if (pulled.result === 'pieces') grant = pulled.pieces.find((piece) => piece.grant !== undefined)?.grant
  }
  assert.ok(grant !== undefined, 'the pull handed out a grant')
  const supernodeKey = createPrivateKey(await readFile(join(sn.homeDir, GRANT_KEY_FILE_NAME), 'utf8'))
  const expired = signPieceGrant({ taskId: privateTask.taskId, peerId: 'peer-a', cid: 'priv-1', expiresAtMs: Date.now() - 1_000 }, supernodeKey)
  const forged = signPieceGrant({ taskId: privateTask.taskId, peerId: 'peer-a', cid: 'priv-1', expiresAtMs: Date.now() + 60_000 }, generateKeyPairSync('ed25519').privateKey)
  const dataUrl = (taskId: string): string => `${sn.downloadUrl}${fillPath(SUPERNODE_DATA_PATHS.taskData, { taskId })}`
  assert.equal(await fetchStatus(dataUrl(privateTask.taskId), grant), 206, 'the grant opens its task')
  assert.equal(await fetchStatus(dataUrl(privateTask.taskId), undefined), 401)
  assert.equal(await fetchStatus(dataUrl(privateTask.taskId), expired), 403)
  assert.equal(await fetchStatus(dataUrl(otherTask.taskId), grant), 403)
  assert.equal(await fetchStatus(dataUrl(otherTask.taskId), grant), 403)
  assert.equal(await fetchStatus(dataUrl(privateTask.taskId), forged), 403)
  assert.equal(await fetchStatus(dataUrl(privateTask.taskId), 'not-a-grant'), 403)

  const text = await client.fetchMetricsText()
  const checks = (result: string): number => metricValue(text, 'dragonfly_supernode_access_checks_total', { result })
  assert.deepEqual({ proven: checks('proven'), public: checks('public'), cached: checks('cached'), refused: checks('refused') }, { proven: 3, public: 1, cached: 1, refused: 2 })
  const refusals = (reason: string): number => metricValue(text, 'dragonfly_supernode_piece_grant_refusals_total', { reason })
  assert.deepEqual({ missing: refusals('missing'), expired: refusals('expired'), wrongTask: refusals('wrong_task'), badSignature: refusals('bad_signature'), malformed: refusals('malformed') }, { missing: 1, expired: 1, wrongTask: 2, badSignature: 1, malformed: 1 })

  // A peer server serving the private task with the supernode's grant key.
  const home = await createTmpDir('df-access-metrics-host-')
  t.after(() => home.close())
  const peer = new PeerServer({ logger: createSilentLogger() }, { homeDir: home.path, listenHost: '127.0.0.1', port: 0, aliveTimeMs: 60_000, expireTimeMs: 60_000, uploadRateBytesPerSec: 0, writeStateFile: false })
  t.after(() => peer.close())
  await peer.start()
  const peerClient = new PeerClient({ baseUrl: peer.localUrl })
  t.after(() => peerClient.close())
  const path = join(home.path, 'data', `${privateTask.taskId}-priv-1`)
  await writeFile(path, createTestData(FILE_BYTES, 172))
  await peerClient.registerUpload({ taskId: privateTask.taskId, cid: 'priv-1', path, fileLengthBytes: FILE_BYTES, pieceSizeBytes: privateTask.pieceSizeBytes, supernodes: [], grantKeys: [privateTask.grantKey ?? ''] })
  const peerUrl = `${peer.localUrl}${fillPath(PEER_PATHS.taskData, { taskId: privateTask.taskId })}?cid=priv-1`
  const otherGrant = signPieceGrant({ taskId: otherTask.taskId, peerId: 'peer-a', cid: 'priv-3', expiresAtMs: Date.now() + 60_000 }, supernodeKey)
  assert.equal(await fetchStatus(peerUrl, grant), 206, 'the grant opens its task at the peer')
  assert.equal(await fetchStatus(peerUrl, undefined), 401)
  assert.equal(await fetchStatus(peerUrl, expired), 403)
  assert.equal(await fetchStatus(peerUrl, otherGrant), 403)
  assert.equal(await fetchStatus(peerUrl, forged), 403)
  assert.equal(await fetchStatus(peerUrl, forged), 403)
  const peerText = await peerClient.fetchMetricsText()
  const peerRefusals = (reason: string): number => metricValue(peerText, 'dragonfly_peer_server_piece_grant_refusals_total', { reason })
  assert.deepEqual({ missing: peerRefusals('missing'), expired: peerRefusals('expired'), wrongTask: peerRefusals('wrong_task'), badSignature: peerRefusals('bad_signature') }, { missing: 1, expired: 1, wrongTask: 1, badSignature: 2 })

  for (const metrics of [text, peerText]) {
    for (const secret of [GOOD_AUTH, WRONG_AUTH, 'Z29vZDpzZWNyZXQtb25l', 'secret', grant, privateTask.grantKey ?? 'x']) assert.ok(!metrics.includes(secret), 'no credential, grant or key in the metrics')
  }
})
