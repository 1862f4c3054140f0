/**
 * Security with the real binaries (issue 5): the supernode fetches only allowed http(s)
 * sources (403 DF_ERR_SOURCE_FORBIDDEN otherwise); the peer server serves only data of tasks
 * it registered (traversal and unknown names 4xx, ranges validated); secrets passed to a run
 * (Authorization headers, signed URL queries) never appear in any log it leaves.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { CloseStack } from '../../src/common/lifecycle.js'
import { isCode } from '../../src/protocol/errors.js'
import { PIECE_GRANT_HEADER } from '../../src/protocol/piece-grant.js'
import { SupernodeClient } from '../../src/supernode/client.js'
import { createTestData, sha256Hex, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'

test('a supernode with --source-deny refuses a denied source with 403 DF_ERR_SOURCE_FORBIDDEN and never contacts it', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data: createTestData(1024, 81) } } }))
  const dir = stack.push(await createTmpDir('df-ssrf-')).path
  const sn = await spawnSupernode(join(dir, 'sn'), ['--source-deny', '127.0.0.0/8,169.254.0.0/16,::1'])
  stack.defer(() => stopChild(sn.child))
  const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
  await client.registerPeer({ peerId: 'peer-1', port: 1 })
  await assert.rejects(client.registerTask({ peerId: 'peer-1', cid: 'c-1', url: origin.url('/f.bin') }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_FORBIDDEN') && err.remote?.status === 403)
  await assert.rejects(client.registerTask({ peerId: 'peer-1', cid: 'c-2', url: 'file:///etc/passwd' }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID'))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const run = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir, 'out'), '-n', sn.node, '--home', home, '--notbs'])
  assert.notEqual(run.exitCode, 0)
  assert.match(run.stderr, /DF_ERR_SOURCE_FORBIDDEN/)
  assert.equal(origin.stats('/f.bin').requests, 0, 'the denied source was never contacted')
})

test('the peer server serves only registered tasks: traversal and unknown names are 4xx, ranges are validated; secrets stay out of every log', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(2 * 1024 * 1024, 82)
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data, requireAuthorization: 'Bearer s3cret-token' } } }))
  const dir = stack.push(await createTmpDir('df-peer-sec-')).path
  const sn = await spawnSupernode(join(dir, 'sn'), ['--verbose'])
  let snLog = ''
  sn.child.stderr?.on('data', (chunk: Buffer) => { snLog += chunk.toString() })
  stack.defer(() => stopChild(sn.child))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const url = `${origin.url('/f.bin')}?X-Signature=sig-secret-123&expires=1`
  const run = await runDfgetProcess(['-u', url, '-o', join(dir, 'out'), '-n', sn.node, '--home', home, '--header', 'Authorization: Bearer s3cret-token', '--verbose'])
  assert.equal(run.exitCode, 0, run.stderr)
  assert.equal(sha256Hex(await readFile(join(dir, 'out'))), sha256Hex(data))

  const { port } = JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { port: number }
  const base = `http://127.0.0.1:${port}`
  const taskId = (await readdir(join(home, 'data')))[0]?.slice(0, 64) ?? ''
  for (const path of ['/peer/tasks/../../../etc/passwd/data', '/peer/tasks/%2e%2e%2f%2e%2e%2fetc%2fpasswd/data', `/peer/tasks/${'b'.repeat(64)}/data?cid=x`, `/peer/tasks/${taskId}/data?cid=..%2F..%2Fpeer-id`, '/peer/../peer-server.json', '/etc/passwd']) {
    const response = await request(`${base}${path}`, { headers: { range: 'bytes=0-10' } })
    await response.body.dump()
    assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${path} → ${response.statusCode}`)
  }
  const cid = (await readdir(join(home, 'data')))[0]?.slice(65) ?? ''
  // The task is private (its source wants credentials): its pieces need a grant of it, which a
  // client with the credentials gets from the supernode.
  const noGrant = await request(`${base}/peer/tasks/${taskId}/data?cid=${cid}`, { headers: { range: 'bytes=0-9' } })
  await noGrant.body.dump()
  assert.equal(noGrant.statusCode, 401)
  const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl }))
  await client.registerPeer({ peerId: 'reader', ip: '127.0.0.1', port: 1 })
  await client.registerTask({ peerId: 'reader', cid: 'reader-1', url, headers: { Authorization: 'Bearer s3cret-token' } })
  const answer = await client.pullPieceTasks(taskId, { cid: 'reader-1', max: 1 })
  const grant = answer.result === 'pieces' ? answer.pieces[0]?.grant ?? '' : ''
  for (const range of ['bytes=5-1', `bytes=${data.length}-`, 'bytes=a-b', 'bytes=0-1,3-4', 'pages=0-1']) {
    const response = await request(`${base}/peer/tasks/${taskId}/data?cid=${cid}`, { headers: { range, [PIECE_GRANT_HEADER]: grant } })
    await response.body.dump()
    assert.ok(response.statusCode === 416 || response.statusCode === 400, `Range ${range} → ${response.statusCode}`)
  }
  const good = await request(`${base}/peer/tasks/${taskId}/data?cid=${cid}`, { headers: { range: 'bytes=0-9', [PIECE_GRANT_HEADER]: grant } })
  assert.equal(good.statusCode, 206)
  assert.deepEqual(Buffer.from(await good.body.arrayBuffer()), data.subarray(0, 10))

  const logs = [snLog, run.stderr]
  for (const name of await readdir(join(home, 'logs'))) logs.push(await readFile(join(home, 'logs', name), 'utf8'))
  for (const name of await readdir(join(dir, 'sn'), { recursive: true })) {
    const path = join(dir, 'sn', name)
    if ((await stat(path)).isFile() && name.endsWith('.json')) logs.push(await readFile(path, 'utf8'))
  }
  const everything = logs.join('\n')
  assert.ok(everything.length > 0)
  assert.ok(!everything.includes('s3cret-token'), 'the Authorization header leaked into a log or metadata file')
  assert.ok(!everything.includes('sig-secret-123'), 'the signed URL query leaked into a log or metadata file')
})
