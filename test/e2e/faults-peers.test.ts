/**
 * Fault scenarios of issue 5 with the real binaries: a peer dies mid-transfer, a peer holds
 * corrupt data (test/harness/fault-fixture.ts; docs/reliability.md).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { open, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { computeTaskId } from '../../src/protocol/task-id.js'
import { parseSummary } from '../harness/processes.js'
import { donePieces, FaultFixture, MiB, peerServerPid, waitFor } from '../harness/fault-fixture.js'
import { assertCompleted } from '../harness/scenario-assert.js'

test('peer server killed mid-transfer: its client moves to other sources, nothing restarts', async (t) => {
  const data = FaultFixture.data(12 * MiB, 51)
  const fx = await FaultFixture.start(t, { '/f.bin': data })
  const sn = await fx.startSupernode('sn')
  const url = fx.origin.url('/f.bin')
  assertCompleted('seed host A', await fx.dfget(url, 'out-a', [sn.node], 'a'), data)
  const client = fx.client(sn)
  const running = fx.dfget(url, 'out-b', [sn.node], 'b', ['--locallimit', '6M'])
  await waitFor(async () => await donePieces(client, computeTaskId({ url })) >= 3, 20_000, 'host B to hold 3 pieces')
  const pid = await peerServerPid(fx.home('a'))
  assert.ok(pid !== undefined, 'host A\'s peer server runs')
  process.kill(pid, 'SIGKILL')
  const b = await running
  assertCompleted('host B', b, data)
  const summary = parseSummary(b.stderr)
  assert.equal(summary?.source, 0, `host B fetched nothing from the source (no restart): ${b.stderr}`)
  assert.ok((summary?.peers ?? 0) > 0, `host B got pieces from the peer before it died: ${b.stderr}`)
})

test('corrupt data at a peer: detected by digest, never written, the peer dropped for the task', async (t) => {
  const data = FaultFixture.data(8 * MiB, 52)
  const fx = await FaultFixture.start(t, { '/f.bin': data })
  const sn = await fx.startSupernode('sn')
  const url = fx.origin.url('/f.bin')
  assertCompleted('seed host A', await fx.dfget(url, 'out-a', [sn.node], 'a'), data)
  // Flip one byte in every piece of A's stored data (the file its peer server serves).
  const dataDir = join(fx.home('a'), 'data')
  const names = await readdir(dataDir)
  const dataFile = names.find((name) => name.startsWith(computeTaskId({ url })))
  assert.ok(dataFile !== undefined, `host A stores the task data: ${names.join(',')}`)
  const handle = await open(join(dataDir, dataFile), 'r+')
  try {
    for (let offset = 100; offset < data.length; offset += 256 * 1024) await handle.write(Buffer.from([(data[offset] ?? 0) ^ 0xff]), 0, 1, offset)
  } finally {
    await handle.close()
  }
  assertCompleted('host B', await fx.dfget(url, 'out-b', [sn.node], 'b'), data)
  const logB = await readFile(join(fx.home('b'), 'logs', 'dfget.log'), 'utf8').catch(() => '')
  assert.ok(logB.includes('DF_ERR_PIECE_DIGEST_MISMATCH'), 'host B detected the corrupt pieces by digest')
  assertCompleted('host C', await fx.dfget(url, 'out-c', [sn.node], 'c'), data)
  const logC = await readFile(join(fx.home('c'), 'logs', 'dfget.log'), 'utf8').catch(() => '')
  assert.ok(!logC.includes('DF_ERR_PIECE_DIGEST_MISMATCH'), 'host C was never sent to the corrupt peer')
})
