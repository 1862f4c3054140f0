import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HttpClient } from '../../common/http/client.js'
import { isCode } from '../../protocol/errors.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import { createTestData, startOrigin } from '../../../test/harness/origin.js'
import { metricValue, startTestSupernode, waitForCdn } from '../../../test/harness/supernode.js'

const MiB = 1024 * 1024
const asJson = (value: unknown): unknown => value

test('system routes answer: ping, version, metrics with the Dragonfly names, OpenAPI and docs', async (t) => {
  const sn = await startTestSupernode(t)
  const http = new HttpClient()
  t.after(() => http.close())
  await sn.client.ping()
  const ping = await http.stream({ url: `${sn.apiUrl}${SUPERNODE_PATHS.ping}` })
  let text = ''
  for await (const chunk of ping.body) text += String(chunk)
  assert.equal(text, 'OK')
  const version = await http.requestJson({ url: `${sn.apiUrl}${SUPERNODE_PATHS.version}` }, asJson) as { name: string, version: string, node: string }
  assert.equal(version.name, 'damselfly')
  assert.equal(version.node, process.version)
  const metrics = await sn.client.fetchMetricsText()
  for (const name of ['dragonfly_supernode_cdn_download_size_bytes_total', 'dragonfly_supernode_pieces_downloaded_size_bytes_total', 'dragonfly_supernode_peers', 'dragonfly_supernode_tasks', 'dragonfly_supernode_cdn_cache_hit_total', 'dragonfly_supernode_schedule_duration_milliseconds', 'dragonfly_supernode_piece_reports_total', 'dragonfly_supernode_piece_report_size_bytes_total', 'dragonfly_supernode_registrations_total']) {
    assert.ok(metrics.includes(`# TYPE ${name} `), `metrics has ${name}`)
  }
  const openapi = await http.requestJson({ url: `${sn.apiUrl}${SUPERNODE_PATHS.openapi}` }, asJson) as { openapi: string, paths: Record<string, Record<string, unknown>> }
  assert.match(openapi.openapi, /^3\./)
  for (const path of ['/api/v1/peers', '/api/v1/peers/{peerId}', '/api/v1/tasks', '/api/v1/tasks/{taskId}', '/api/v1/tasks/{taskId}/pieces', '/api/v1/tasks/{taskId}/pieces/{pieceRange}', '/_ping', '/version', '/metrics']) {
    assert.ok(openapi.paths[path] !== undefined, `OpenAPI lists ${path}`)
  }
  assert.ok(openapi.paths['/api/v1/tasks']?.post !== undefined)
  assert.ok(openapi.paths['/api/v1/tasks/{taskId}/pieces/{pieceRange}']?.put !== undefined)
  const docs = await http.stream({ url: `${sn.apiUrl}/docs/` })
  docs.body.resume()
  assert.equal(docs.status, 200)
})

test('unknown routes and bad input answer with codes naming the field, never 5xx', async (t) => {
  const sn = await startTestSupernode(t)
  const http = new HttpClient()
  t.after(() => http.close())
  await assert.rejects(http.requestVoid({ url: `${sn.apiUrl}/api/v1/nothing` }), (err: unknown) => isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND') && err.remote?.status === 404)
  await assert.rejects(sn.client.registerPeer({ port: 0 }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.port')
  await assert.rejects(sn.client.registerPeer({ port: 4000, extra: 1 } as unknown as { port: number }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.extra')
  await sn.client.registerPeer({ peerId: 'p1', port: 4000 })
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c1', url: 'ftp://example.com/x' }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.url')
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c 1', url: 'http://127.0.0.1:1/x' }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'body.cid')
  await assert.rejects(sn.client.registerTask({ peerId: 'nobody', cid: 'c1', url: 'http://127.0.0.1:1/x' }), (err: unknown) => isCode(err, 'DF_ERR_PEER_NOT_FOUND'))
  await assert.rejects(http.requestVoid({ method: 'POST', url: `${sn.apiUrl}${SUPERNODE_PATHS.tasks}`, headers: { 'content-type': 'application/json' }, json: undefined }), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && (err.remote?.status ?? 0) < 500)
  await assert.rejects(sn.client.getTask('not-a-task'), (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.details?.field === 'params.taskId')
  await assert.rejects(sn.client.getPeer('nobody'), (err: unknown) => isCode(err, 'DF_ERR_PEER_NOT_FOUND') && err.remote?.status === 404)
})

test('a registration or preheat with a header that cannot be sent is 400 naming the header; the source is never asked and the next client is served', async (t) => {
  const origin = await startOrigin({ files: { '/h.bin': { data: createTestData(100_000, 71) } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'p1', port: 4000 })
  const url = origin.url('/h.bin')
  const namesHeader = (field: string) => (err: unknown) => isCode(err, 'DF_ERR_ARG_INVALID') && err.remote?.status === 400 && err.details?.field === field
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c1', url, headers: { 'X-Token': 'a\r\nX-Injected: 1' } }), namesHeader('body.headers.X-Token'))
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c1', url, headers: { 'X-Token': 'a\nb' } }), namesHeader('body.headers.X-Token'))
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c1', url, headers: { 'Bad Name': 'a' } }), namesHeader('body.headers["Bad Name"]'))
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c1', url, headers: { 'Transfer-Encoding': 'chunked' } }), namesHeader('body.headers.Transfer-Encoding'))
  await assert.rejects(sn.client.createPreheat({ type: 'file', url, headers: { Authorization: 'Basic x\r\n' } }), namesHeader('body.headers.Authorization'))
  assert.equal(origin.stats('/h.bin').requests, 0, 'the source was never asked')
  const next = await sn.client.registerTask({ peerId: 'p1', cid: 'c2', url, headers: { 'X-Token': 'fine' } })
  assert.equal(next.fileLengthBytes, 100_000)
  assert.equal(await waitForCdn(sn.client, next.taskId), 'success')
})

test('a task that failed with one registration\'s headers starts again with the headers of the next registration', async (t) => {
  const origin = await startOrigin({ files: { '/p.bin': { data: createTestData(100_000, 72), requireAuthorization: 'Bearer good' } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  await sn.client.registerPeer({ peerId: 'p1', port: 4000 })
  const url = origin.url('/p.bin')
  await assert.rejects(sn.client.registerTask({ peerId: 'p1', cid: 'c1', url, headers: { Authorization: 'Bearer expired' } }), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_STATUS') && err.details?.status === 401)
  const next = await sn.client.registerTask({ peerId: 'p1', cid: 'c2', url, headers: { Authorization: 'Bearer good' } })
  assert.equal(next.fileLengthBytes, 100_000)
  assert.equal(await waitForCdn(sn.client, next.taskId), 'success')
})

test('peers register with their request address by default and are listed', async (t) => {
  const sn = await startTestSupernode(t)
  const peer = await sn.client.registerPeer({ port: 4555, hostName: 'host-a' })
  assert.equal(peer.ip, '127.0.0.1')
  assert.equal(peer.peerId, 'peer-127.0.0.1-4555')
  const again = await sn.client.registerPeer({ peerId: peer.peerId, ip: '10.0.0.9', port: 4556 })
  assert.equal(again.ip, '10.0.0.9')
  const list = await sn.client.listPeers()
  assert.equal(list.peers.length, 1)
  assert.equal(metricValue(await sn.client.fetchMetricsText(), 'dragonfly_supernode_peers'), 1)
  await sn.client.deletePeer(peer.peerId)
  assert.equal((await sn.client.listPeers()).peers.length, 0)
})

test('the download port serves cached ranges, 416 outside the file, 404 for pieces not cached yet', async (t) => {
  const data = createTestData(3 * MiB, 12)
  const origin = await startOrigin({ files: { '/d.bin': { data } } })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t)
  const http = new HttpClient()
  t.after(() => http.close())
  await sn.client.registerPeer({ peerId: 'p1', port: 4000 })
  const task = await sn.client.registerTask({ peerId: 'p1', cid: 'c1', url: origin.url('/d.bin') })
  assert.equal(task.dataUrl, `${sn.downloadUrl}/tasks/${task.taskId}/data`)
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  const bytes = await http.fetchRange({ url: task.dataUrl, start: MiB - 10, end: 2 * MiB + 9 })
  assert.ok(bytes.equals(data.subarray(MiB - 10, 2 * MiB + 10)))
  await assert.rejects(http.fetchRange({ url: task.dataUrl, start: 3 * MiB, end: 3 * MiB + 5 }), (err: unknown) => isCode(err, 'DF_ERR_PIECE_RANGE_INVALID') && err.remote?.status === 416)
  await assert.rejects(http.fetchRange({ url: `${sn.downloadUrl}/tasks/${'e'.repeat(64)}/data`, start: 0, end: 1 }), (err: unknown) => isCode(err, 'DF_ERR_TASK_NOT_FOUND'))
  assert.equal(metricValue(await sn.client.fetchMetricsText(), 'dragonfly_supernode_pieces_downloaded_size_bytes_total'), MiB + 20)

  const slow = createTestData(2 * MiB, 13)
  origin.setFile('/slow.bin', { data: slow, faults: { throttleBytesPerSec: MiB } })
  const slowTask = await sn.client.registerTask({ peerId: 'p1', cid: 'c2', url: origin.url('/slow.bin') })
  await assert.rejects(http.fetchRange({ url: slowTask.dataUrl, start: 0, end: 99 }), (err: unknown) => isCode(err, 'DF_ERR_PIECE_NOT_AVAILABLE') && err.remote?.status === 404)
})

test('with both ports 0 the API and the data port are two servers, each with only its routes', async (t) => {
  const sn = await startTestSupernode(t)
  const http = new HttpClient()
  t.after(() => http.close())
  assert.notEqual(sn.apiUrl, sn.downloadUrl)
  await assert.rejects(http.requestVoid({ url: `${sn.downloadUrl}${SUPERNODE_PATHS.tasks}` }), (err: unknown) => isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND'))
  await assert.rejects(http.requestVoid({ url: `${sn.apiUrl}/tasks/${'e'.repeat(64)}/data` }), (err: unknown) => isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND'))
})

test('over IPv6 loopback the supernode registers, schedules and serves with bracketed URLs', async (t) => {
  const data = createTestData(MiB + 3, 15)
  const origin = await startOrigin({ files: { '/v6.bin': { data } }, host: '::1' })
  t.after(() => origin.close())
  const sn = await startTestSupernode(t, { listen: '::1' })
  assert.match(sn.apiUrl, /^http:\/\/\[::1\]:\d+$/)
  const http = new HttpClient()
  t.after(() => http.close())
  await sn.client.registerPeer({ peerId: 'p6', port: 4000 })
  assert.equal((await sn.client.getPeer('p6')).ip, '::1')
  const task = await sn.client.registerTask({ peerId: 'p6', cid: 'c6', url: origin.url('/v6.bin') })
  assert.equal(await waitForCdn(sn.client, task.taskId), 'success')
  const outcome = await sn.client.pullPieceTasks(task.taskId, { cid: 'c6', max: 4 })
  assert.equal(outcome.result, 'pieces')
  const piece = outcome.result === 'pieces' ? outcome.pieces[0] : undefined
  assert.ok(piece !== undefined && piece.url.startsWith('http://[::1]:'))
  const [start, end] = piece.pieceRange.split('-').map(Number) as [number, number]
  assert.ok((await http.fetchRange({ url: piece.url, start, end })).equals(data.subarray(start, end + 1)))
})
