import { test } from 'node:test'
import assert from 'node:assert/strict'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { ManualClock } from '../../common/clock.js'
import { isCode } from '../../protocol/errors.js'
import { createTestData, startOrigin } from '../../../test/harness/origin.js'
import { startTestSupernode, waitForCdn } from '../../../test/harness/supernode.js'

const exists = async (path: string): Promise<boolean> => await access(path).then(() => true, () => false)

test('idle tasks leave memory, unused cache files are deleted, tasks in use are kept', async (t) => {
  const origin = await startOrigin({ files: { '/idle.bin': { data: createTestData(1024 * 1024, 1) }, '/busy.bin': { data: createTestData(1024 * 1024, 2) } } })
  t.after(() => origin.close())
  const clock = new ManualClock()
  const sn = await startTestSupernode(t, { clock, taskExpireTimeMs: 1_000, cacheExpireTimeMs: 5_000 })
  await sn.client.registerPeer({ peerId: 'p1', port: 4000 })
  const idle = await sn.client.registerTask({ peerId: 'p1', cid: 'c-idle', url: origin.url('/idle.bin') })
  const busy = await sn.client.registerTask({ peerId: 'p1', cid: 'c-busy', url: origin.url('/busy.bin') })
  assert.equal(await waitForCdn(sn.client, idle.taskId), 'success')
  assert.equal(await waitForCdn(sn.client, busy.taskId), 'success')
  await sn.client.deleteTask(idle.taskId, 'c-idle')
  const idleData = join(sn.homeDir, 'cdn', idle.taskId.slice(0, 3), `${idle.taskId}.data`)
  const busyData = join(sn.homeDir, 'cdn', busy.taskId.slice(0, 3), `${busy.taskId}.data`)

  assert.deepEqual(await sn.supernode.runGc(), { tasksRemoved: [], cacheFilesRemoved: [] })
  clock.advance(1_001)
  assert.deepEqual(await sn.supernode.runGc(), { tasksRemoved: [idle.taskId], cacheFilesRemoved: [] })
  await assert.rejects(sn.client.getTask(idle.taskId), (err: unknown) => isCode(err, 'DF_ERR_TASK_NOT_FOUND'))
  assert.ok(await exists(idleData))

  clock.advance(5_001)
  assert.deepEqual(await sn.supernode.runGc(), { tasksRemoved: [], cacheFilesRemoved: [idle.taskId] })
  assert.equal(await exists(idleData), false)
  assert.ok(await exists(busyData))
  assert.equal((await sn.client.getTask(busy.taskId)).clients.length, 1)
})
