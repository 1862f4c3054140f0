/**
 * Fault scenarios of issue 5 with the real binaries: a supernode killed (with a second one
 * on the ring, or alone), while the source changes or not, and a supernode restart
 * (test/harness/fault-fixture.ts; docs/reliability.md).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { computeTaskId } from '../../src/protocol/task-id.js'
import { parseNodeList } from '../../src/common/node-list.js'
import { orderSupernodes } from '../../src/dfget/supernode-locator.js'
import { metricValue, parseSummary, stopChild, type StartedSupernode } from '../harness/processes.js'
import { donePieces, donePiecesOfEach, FaultFixture, MiB, waitFor } from '../harness/fault-fixture.js'
import { assertCompleted, assertFailedCleanly } from '../harness/scenario-assert.js'

/** Two supernodes; the one that owns the task of `url` on the ring first. */
async function startRing (fx: FaultFixture, url: string): Promise<{ sn1: StartedSupernode, sn2: StartedSupernode, owner: StartedSupernode, other: StartedSupernode }> {
  const sn1 = await fx.startSupernode('sn1')
  const sn2 = await fx.startSupernode('sn2')
  const [first] = orderSupernodes(parseNodeList([sn1.node, sn2.node]), computeTaskId({ url }))
  const owner = first?.baseUrl === sn1.apiUrl ? sn1 : sn2
  return { sn1, sn2, owner, other: owner === sn1 ? sn2 : sn1 }
}

test('supernode killed, two configured: the client moves to the next on the ring', async (t) => {
  const data = FaultFixture.data(12 * MiB, 53)
  const fx = await FaultFixture.start(t, { '/f.bin': data })
  const url = fx.origin.url('/f.bin')
  const { sn1, sn2, owner, other } = await startRing(fx, url)
  const client = fx.client(owner)
  const running = fx.dfget(url, 'out', [sn1.node, sn2.node], 'a', ['--locallimit', '6M'])
  await waitFor(async () => await donePieces(client, computeTaskId({ url })) >= 3, 20_000, 'the client to hold 3 pieces at its supernode')
  owner.child.kill('SIGKILL')
  const run = await running
  assertCompleted('the client', run, data)
  const log = await readFile(join(fx.home('a'), 'logs', 'dfget.log'), 'utf8').catch(() => '')
  assert.equal(parseSummary(run.stderr)?.source, 0, `the client fetched nothing from the source itself: ${run.stderr}\n${log.split('\n').filter((line) => line.includes('"level":40')).slice(-8).join('\n')}`)
  const fromSecond = metricValue(await fx.client(other).fetchMetricsText(), 'dragonfly_supernode_pieces_downloaded_size_bytes_total')
  assert.ok(fromSecond > 0 && fromSecond < data.length, `the next supernode served only the pieces the client lacked: ${fromSecond} bytes`)
})

test('supernode killed while the source changes, two configured: no mixed versions', async (t) => {
  const v1 = FaultFixture.data(12 * MiB, 62)
  const v2 = FaultFixture.data(12 * MiB, 63)
  const fx = await FaultFixture.start(t, { '/f.bin': v1 })
  const url = fx.origin.url('/f.bin')
  const { sn1, sn2, owner } = await startRing(fx, url)
  const client = fx.client(owner)
  const running = fx.dfget(url, 'out', [sn1.node, sn2.node], 'a', ['--locallimit', '6M'])
  await waitFor(async () => await donePieces(client, computeTaskId({ url })) >= 3, 20_000, 'the client to hold 3 pieces at its supernode')
  fx.setFile('/f.bin', { data: v2 })
  owner.child.kill('SIGKILL')
  assertCompleted('the client (whole new version)', await running, v2)
})

test('supernode killed, one configured: back-source of only the missing pieces', async (t) => {
  const data = FaultFixture.data(12 * MiB, 54)
  const fx = await FaultFixture.start(t, { '/f.bin': data })
  const sn = await fx.startSupernode('sn')
  const url = fx.origin.url('/f.bin')
  const client = fx.client(sn)
  const running = fx.dfget(url, 'out', [sn.node], 'a', ['--locallimit', '6M'])
  const strict = fx.dfget(url, 'out-notbs', [sn.node], 'b', ['--locallimit', '6M', '--notbs'])
  // Both clients hold 3 pieces (the one that back-sources, not only the faster of the two).
  await waitFor(async () => await donePiecesOfEach(client, computeTaskId({ url }), 2) >= 3, 20_000, 'both clients to hold 3 pieces')
  sn.child.kill('SIGKILL')
  const run = await running
  assertCompleted('the client', run, data)
  assertFailedCleanly('a --notbs client', await strict, /DF_ERR_TASK_SWARM_FAILED/)
  const summary = parseSummary(run.stderr)
  const fromSource = summary?.source ?? Number.NaN
  // Each piece once: what came from the source is what the swarm had not delivered.
  const total = fromSource + (summary?.supernode ?? Number.NaN) + (summary?.peers ?? Number.NaN)
  assert.ok(fromSource > 0 && fromSource <= data.length - 3 * MiB && Math.abs(total - data.length) < 0.2 * MiB, `the client fetched only the missing pieces from the source: ${run.stderr}`)
})

test('supernode killed while the source changes, one configured: back-source never mixes versions', async (t) => {
  const v1 = FaultFixture.data(12 * MiB, 64)
  const v2 = FaultFixture.data(12 * MiB, 65)
  const fx = await FaultFixture.start(t, { '/f.bin': v1 })
  const sn = await fx.startSupernode('sn')
  const url = fx.origin.url('/f.bin')
  const client = fx.client(sn)
  const running = fx.dfget(url, 'out', [sn.node], 'a', ['--locallimit', '6M'])
  await waitFor(async () => await donePieces(client, computeTaskId({ url })) >= 3, 20_000, 'the client to hold 3 pieces')
  fx.setFile('/f.bin', { data: v2 })
  sn.child.kill('SIGKILL')
  assertCompleted('the client (whole new version)', await running, v2)
})

test('supernode restart: the CDN cache is reused, an unchanged source not read again', async (t) => {
  const data = FaultFixture.data(8 * MiB, 55)
  const fx = await FaultFixture.start(t, { '/f.bin': data })
  const url = fx.origin.url('/f.bin')
  const first = await fx.startSupernode('sn')
  assertCompleted('before the restart', await fx.dfget(url, 'out-a', [first.node], 'a'), data)
  await stopChild(first.child)
  const before = fx.origin.stats('/f.bin').bytesSent
  const second = await fx.startSupernode('sn')
  assertCompleted('after the restart', await fx.dfget(url, 'out-b', [second.node], 'b'), data)
  const readAgain = fx.origin.stats('/f.bin').bytesSent - before
  assert.ok(readAgain <= 1, `the unchanged source was not read again: ${readAgain} bytes`)
  assert.equal(metricValue(await fx.client(second).fetchMetricsText(), 'dragonfly_supernode_cdn_cache_hit_total'), 1, 'the restarted supernode counted a cache hit')
})
