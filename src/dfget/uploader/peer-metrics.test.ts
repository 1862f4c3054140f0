import { test } from 'node:test'
import assert from 'node:assert/strict'
import { access, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { createTestData } from '../../../test/harness/origin.js'
import { metricValue } from '../../../test/harness/supernode.js'
import { CloseStack } from '../../common/lifecycle.js'
import { createSilentLogger } from '../../common/log.js'
import { isCode } from '../../protocol/errors.js'
import { computeTaskId } from '../../protocol/task-id.js'
import { createHomeLayout } from '../home-layout.js'
import { PeerClient } from './peer-client.js'
import { PeerServer } from './peer-server.js'

test('GET /metrics on the peer server counts uploaded bytes, uploads, served files and expired files', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const home = stack.push(await createTmpDir('damselfly-peer-metrics-'))
  const server = new PeerServer({ logger: createSilentLogger() }, { homeDir: home.path, listenHost: '127.0.0.1', port: 0, aliveTimeMs: 60_000, expireTimeMs: 300, uploadRateBytesPerSec: 0 })
  stack.push(server)
  await server.start()
  const client = stack.push(new PeerClient({ baseUrl: server.localUrl, keepAliveTimeoutMs: 100 }))
  const data = createTestData(10_000, 5)
  const taskId = computeTaskId({ url: 'http://origin.test/m.bin' })
  const path = join(createHomeLayout(home.path).dataDir, `${taskId}-c1`)
  await writeFile(path, data)
  await client.registerUpload({ taskId, cid: 'c1', path, fileLengthBytes: data.length, pieceSizeBytes: 4096, supernodes: [] })

  let text = await client.fetchMetricsText()
  assert.equal(metricValue(text, 'dragonfly_peer_server_served_files'), 1)
  assert.equal(metricValue(text, 'dragonfly_peer_server_served_size_bytes'), data.length)
  assert.ok((await client.fetchTaskData(taskId, 'c1', { start: 0, end: 4095 })).equals(data.subarray(0, 4096)))
  assert.ok((await client.fetchTaskData(taskId, 'c1', { start: 8192, end: 9999 })).equals(data.subarray(8192)))
  await assert.rejects(client.fetchTaskData(taskId, 'nobody', { start: 0, end: 1 }), (err: unknown) => isCode(err, 'DF_ERR_UPLOAD_TASK_NOT_FOUND'))
  text = await client.fetchMetricsText()
  assert.equal(metricValue(text, 'dragonfly_peer_server_upload_size_bytes_total'), 4096 + 1808)
  assert.equal(metricValue(text, 'dragonfly_peer_server_uploads_total', { result: 'success' }), 2)
  assert.equal(metricValue(text, 'dragonfly_peer_server_uploads_total', { result: 'failed' }), 1)
  assert.equal(metricValue(text, 'dragonfly_peer_server_uploads_in_flight'), 0)

  // Unused for --expiretime: the file goes and is counted.
  const deadline = Date.now() + 10_000
  while (await access(path).then(() => true, () => false)) {
    assert.ok(Date.now() < deadline, 'the data file expires')
    await new Promise((resolve) => setImmediate(resolve))
  }
  text = await client.fetchMetricsText()
  assert.equal(metricValue(text, 'dragonfly_peer_server_expired_files_total'), 1)
  assert.equal(metricValue(text, 'dragonfly_peer_server_expired_size_bytes_total'), data.length)
  assert.equal(metricValue(text, 'dragonfly_peer_server_served_files'), 0)
})
