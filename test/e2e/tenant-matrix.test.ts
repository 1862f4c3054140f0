/**
 * The tenant matrix (issue 16): two tenants with different credentials, private and public
 * content, the real binaries (bin/supernode, bin/dfget with a home per host) on loopback.
 * Paths: dfget with headers, direct requests to the download port and to peer servers, a
 * registration carrying a digest and a bogus URL, a grant replayed for another task, an
 * expired grant, a wrong header registered first. Result: 0 bytes of private content reach
 * a client without valid credentials; public content still comes from peers; a wrong header
 * spoils nothing for anyone else.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { CloseStack } from '../../src/common/lifecycle.js'
import { isCode } from '../../src/protocol/errors.js'
import { PIECE_GRANT_HEADER } from '../../src/protocol/piece-grant.js'
import { computeTaskId } from '../../src/protocol/task-id.js'
import { SupernodeClient } from '../../src/supernode/client.js'
import { createTestData, sha256Hex, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'

const MiB = 1024 * 1024
const AUTH_A = `Basic ${Buffer.from('tenant-a:pass-a').toString('base64')}`
const AUTH_B = `Basic ${Buffer.from('tenant-b:pass-b').toString('base64')}`
const AUTH_WRONG = `Basic ${Buffer.from('tenant-b:expired').toString('base64')}`
const GRANT_LIFETIME_MS = 3_000

/** A GET of a piece range with or without a grant: its status, error code and reason, and the body bytes that came. */
async function getPiece (url: string, grant: string | undefined): Promise<{ status: number, code?: string, reason?: string, body: Buffer }> {
  const response = await request(url, { headers: { range: 'bytes=0-1023', ...(grant === undefined ? {} : { [PIECE_GRANT_HEADER]: grant }) } })
  const body = Buffer.from(await response.body.arrayBuffer())
  if (response.statusCode < 300) return { status: response.statusCode, body }
  const error = JSON.parse(body.toString()) as { code: string, details?: { reason?: string } }
  return { status: response.statusCode, code: error.code, ...(error.details?.reason === undefined ? {} : { reason: error.details.reason }), body: Buffer.alloc(0) }
}

/** The peer server's piece URL of the task a home holds. */
async function peerDataUrl (home: string, taskId: string): Promise<string> {
  const { port } = JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { port: number }
  const file = (await readdir(join(home, 'data'))).find((name) => name.startsWith(`${taskId}-`))
  assert.ok(file !== undefined, `${home} holds ${taskId}`)
  return `http://127.0.0.1:${port}/peer/tasks/${taskId}/data?cid=${file.slice(65)}`
}

/** Files under a home's data directory (a dfget that got no piece wrote none). */
async function dataFiles (home: string): Promise<string[]> {
  return await readdir(join(home, 'data')).catch(() => [])
}

test('tenant matrix: private content reaches only clients with valid credentials; public content comes from peers; a wrong header spoils nothing', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const privateA = createTestData(3 * MiB, 161)
  const privateB = createTestData(2 * MiB + 5, 162)
  const publicData = createTestData(2 * MiB, 163)
  const origin = stack.push(await startOrigin({
    files: { '/a/private.bin': { data: privateA, requireAuthorization: AUTH_A }, '/b/private.bin': { data: privateB, requireAuthorization: AUTH_B }, '/public.bin': { data: publicData } },
  }))
  const dir = stack.push(await createTmpDir('df-tenants-')).path
  const sn = await spawnSupernode(join(dir, 'sn'), ['--grant-lifetime', `${GRANT_LIFETIME_MS}ms`])
  stack.defer(() => stopChild(sn.child))
  const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
  const homes = ['a1', 'a2', 'b1', 'wrong', 'anon', 'b-for-a'].map((name) => join(dir, name))
  for (const home of homes) stack.defer(() => stopPeerServer(home))
  const [homeA1, homeA2, homeB1, homeWrong, homeAnon, homeBForA] = homes as [string, string, string, string, string, string]
  const dfget = async (home: string, path: string, headers: readonly string[]): Promise<{ exitCode: number, stderr: string, out: string }> => {
    const out = join(dir, `${home.slice(dir.length + 1)}-${path.replaceAll('/', '_')}`)
    const run = await runDfgetProcess(['-u', origin.url(path), '-o', out, '-n', sn.node, '--home', home, ...headers.flatMap((header) => ['--header', header])])
    return { ...run, out }
  }
  const outputOf = async (out: string): Promise<Buffer | undefined> => await readFile(out).catch(() => undefined)

  // A wrong header registered first: it fails alone; tenant B right after it is served.
  const wrongFirst = await dfget(homeWrong, '/b/private.bin', [`Authorization: ${AUTH_WRONG}`])
  assert.equal(wrongFirst.exitCode, 3, wrongFirst.stderr)
  assert.match(wrongFirst.stderr, /DF_ERR_SOURCE_STATUS/)
  const tenantB = await dfget(homeB1, '/b/private.bin', [`Authorization: ${AUTH_B}`])
  assert.equal(tenantB.exitCode, 0, tenantB.stderr)
  assert.equal(sha256Hex(await readFile(tenantB.out)), sha256Hex(privateB))

  // Tenant A on two hosts: the second gets the private pieces from the first, with grants.
  const a1 = await dfget(homeA1, '/a/private.bin', [`Authorization: ${AUTH_A}`])
  assert.equal(a1.exitCode, 0, a1.stderr)
  assert.equal(sha256Hex(await readFile(a1.out)), sha256Hex(privateA))
  const a2 = await dfget(homeA2, '/a/private.bin', [`Authorization: ${AUTH_A}`])
  assert.equal(a2.exitCode, 0, a2.stderr)
  assert.equal(sha256Hex(await readFile(a2.out)), sha256Hex(privateA))
  assert.ok((parseSummary(a2.stderr)?.peers ?? 0) > 0, `tenant A's second host took pieces from a peer: ${a2.stderr}`)

  // Without credentials, or with the other tenant's: refused, nothing written, no piece held.
  for (const [home, headers] of [[homeAnon, []], [homeBForA, [`Authorization: ${AUTH_B}`]]] as const) {
    const run = await dfget(home, '/a/private.bin', headers)
    assert.equal(run.exitCode, 3, run.stderr)
    assert.match(run.stderr, /DF_ERR_SOURCE_STATUS/)
    assert.equal(await outputOf(run.out), undefined, 'no output file')
    assert.deepEqual((await dataFiles(home)).filter((name) => !name.startsWith('.')), [], 'no data file')
  }

  // Public content stays open and still comes from peers.
  const publicFirst = await dfget(homeAnon, '/public.bin', [])
  assert.equal(publicFirst.exitCode, 0, publicFirst.stderr)
  const publicSecond = await dfget(homeBForA, '/public.bin', [])
  assert.equal(publicSecond.exitCode, 0, publicSecond.stderr)
  assert.equal(sha256Hex(await readFile(publicSecond.out)), sha256Hex(publicData))
  assert.ok((parseSummary(publicSecond.stderr)?.peers ?? 0) > 0, `public pieces came from a peer: ${publicSecond.stderr}`)

  // Direct requests: the download port and tenant A's peer server, without a grant, with a grant of another task.
  const taskA = computeTaskId({ url: origin.url('/a/private.bin') })
  const taskPublic = computeTaskId({ url: origin.url('/public.bin') })
  const downloadUrl = `${sn.downloadUrl}/tasks/${taskA}/data`
  const peerUrl = await peerDataUrl(homeA1, taskA)
  for (const url of [downloadUrl, peerUrl]) {
    assert.deepEqual(await getPiece(url, undefined), { status: 401, code: 'DF_ERR_PIECE_GRANT_REQUIRED', body: Buffer.alloc(0) }, url)
  }
  await client.registerPeer({ peerId: 'prober', ip: '127.0.0.1', port: 1 })
  await client.registerTask({ peerId: 'prober', cid: 'public-reader', url: origin.url('/public.bin') })
  const publicAnswer = await client.pullPieceTasks(taskPublic, { cid: 'public-reader', max: 1 })
  const publicGrant = publicAnswer.result === 'pieces' ? publicAnswer.pieces[0]?.grant : undefined
  assert.ok(publicGrant !== undefined, 'a pieces answer carries a grant')
  for (const url of [downloadUrl, peerUrl]) {
    assert.deepEqual(await getPiece(url, publicGrant), { status: 403, code: 'DF_ERR_PIECE_GRANT_INVALID', reason: 'task', body: Buffer.alloc(0) }, `replayed grant at ${url}`)
  }
  assert.equal((await getPiece(`${sn.downloadUrl}/tasks/${taskPublic}/data`, undefined)).status, 206, 'public data needs no grant')

  // A registration carrying the digest of tenant A's file (cached as a digest task by tenant A) and a bogus URL gets nothing.
  const digestA = `sha256:${createHash('sha256').update(privateA).digest('hex')}`
  const digestTask = await client.registerTask({ peerId: 'prober', cid: 'tenant-a-digest', url: origin.url('/a/private.bin'), digest: digestA, headers: { Authorization: AUTH_A } })
  for (const url of ['http://127.0.0.1:9/bogus', origin.url('/public.bin')]) {
    await assert.rejects(client.registerTask({ peerId: 'prober', cid: `digest-thief-${url.length}`, url, digest: digestA }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_NOT_PROVEN'), url)
  }
  assert.deepEqual(await getPiece(digestTask.dataUrl, undefined), { status: 401, code: 'DF_ERR_PIECE_GRANT_REQUIRED', body: Buffer.alloc(0) })

  // Tenant A's own grant opens its task (the checks above can fail) until it expires.
  await client.registerTask({ peerId: 'prober', cid: 'tenant-a-reader', url: origin.url('/a/private.bin'), headers: { Authorization: AUTH_A } })
  const answer = await client.pullPieceTasks(taskA, { cid: 'tenant-a-reader', max: 1 })
  const grant = answer.result === 'pieces' ? answer.pieces[0]?.grant : undefined
  assert.ok(grant !== undefined)
  const issuedAtMs = Date.now()
  for (const url of [downloadUrl, peerUrl]) {
    const served = await getPiece(url, grant)
    assert.equal(served.status, 206, url)
    assert.ok(served.body.equals(privateA.subarray(0, 1024)))
  }
  let expired = await getPiece(peerUrl, grant)
  while (expired.status === 206 && Date.now() - issuedAtMs < GRANT_LIFETIME_MS + 5_000) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    expired = await getPiece(peerUrl, grant)
  }
  assert.deepEqual(expired, { status: 403, code: 'DF_ERR_PIECE_GRANT_INVALID', reason: 'expired', body: Buffer.alloc(0) })
  assert.ok(Date.now() - issuedAtMs >= GRANT_LIFETIME_MS - 1_000, 'the grant lasted its lifetime')
  assert.deepEqual(await getPiece(downloadUrl, grant), { status: 403, code: 'DF_ERR_PIECE_GRANT_INVALID', reason: 'expired', body: Buffer.alloc(0) })
})
