import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock } from '../../common/clock.js'
import { createSilentLogger } from '../../common/log.js'
import { parseTaskId, type TaskId } from '../../protocol/ids.js'
import { TaskEvents } from '../progress/task-events.js'
import { DashboardFeed } from './dashboard-feed.js'
import { bytesOf, type DashboardOverview } from './snapshot-builder.js'

const TASK: TaskId = parseTaskId('a'.repeat(64))

/** An in-memory snapshot source whose content is a change counter; it counts its builds. */
function createCountingBuilder (): { builds: { overview: number, detail: number }, version: { value: number }, builder: ConstructorParameters<typeof DashboardFeed>[0]['builder'] } {
  const builds = { overview: 0, detail: 0 }
  const version = { value: 0 }
  return {
    builds,
    version,
    builder: {
      buildOverview: async (): Promise<DashboardOverview> => {
        builds.overview += 1
        return { peers: version.value, totals: bytesOf(0, 0, 0, 0), tasks: [], rates: new Map(), isActive: false }
      },
      buildDetail: (taskId) => {
        builds.detail += 1
        return { taskId, cachedMap: '', clients: [] }
      },
    },
  }
}

/** Lets the feed's asynchronous tick finish (the builder resolves at once). */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => { setImmediate(resolve) })
}

test('the feed does no work without subscribers, and one build per interval however many changes', async () => {
  const clock = new ManualClock()
  const events = new TaskEvents({ clock })
  const source = createCountingBuilder()
  const feed = new DashboardFeed({ builder: source.builder, events, clock, logger: createSilentLogger() }, { intervalMs: 300, heartbeatMs: 2_000 })

  for (let i = 0; i < 10_000; i++) events.notify(TASK)
  clock.advance(60_000)
  await settle()
  assert.deepEqual(source.builds, { overview: 0, detail: 0 }, 'nobody watches: nothing is built')

  const writes: string[] = []
  const unsubscribe = feed.subscribe(TASK, { write: (text) => { writes.push(text); return true }, end: () => {} })
  clock.advance(0)
  await settle()
  assert.equal(writes.length, 1)
  assert.deepEqual(source.builds, { overview: 1, detail: 1 })

  // 10 000 changes within one interval: one build, one snapshot.
  for (let i = 0; i < 10_000; i++) { source.version.value += 1; events.notify(TASK) }
  clock.advance(300)
  await settle()
  assert.deepEqual(source.builds, { overview: 2, detail: 2 })
  assert.equal(writes.length, 2)
  assert.match(writes[1] ?? '', /"peers":10000/)

  // Quiet intervals: nothing built until the heartbeat, and an unchanged snapshot is not sent.
  for (let i = 0; i < 6; i++) { clock.advance(300); await settle() }
  assert.equal(source.builds.overview, 2)
  clock.advance(300)
  await settle()
  assert.equal(source.builds.overview, 3, 'the heartbeat rebuilds')
  assert.equal(writes.length, 2, 'same content, nothing sent')

  // A backed-up subscriber is skipped, then gets the newest snapshot once it drains.
  let isBackedUp = true
  const slow: string[] = []
  const unsubscribeSlow = feed.subscribe(undefined, { write: (text) => { if (isBackedUp) return false; slow.push(text); return true }, end: () => {} })
  clock.advance(300)
  await settle()
  assert.equal(slow.length, 0)
  isBackedUp = false
  source.version.value += 1
  events.notify(TASK)
  clock.advance(300)
  await settle()
  assert.equal(slow.length, 1)
  assert.match(slow[0] ?? '', /"peers":10001/)

  unsubscribeSlow()
  unsubscribe()
  const built = { ...source.builds }
  for (let i = 0; i < 1_000; i++) events.notify(TASK)
  clock.advance(60_000)
  await settle()
  assert.deepEqual(source.builds, built, 'the last subscriber gone, the timer and listener are too')
  assert.equal(feed.subscriberCount, 0)
  feed.close()
})
