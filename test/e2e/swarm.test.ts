/**
 * The core swarm, as a user runs it: the built bin/supernode and bin/dfget as child
 * processes, one --home per "host", against a real origin on loopback.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile, access } from 'node:fs/promises'
import { join } from 'node:path'
import { startOrigin, createTestData, sha256Hex } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { CloseStack } from '../../src/common/lifecycle.js'
import { metricValue, parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'

const MiB = 1024 * 1024

test('8 hosts started together fetch a 64 MiB file: all identical, origin read once, peers serve most piece bytes', async (t) => {
  const data = createTestData(64 * MiB, 21)
  const digest = sha256Hex(data)
  // node:test runs after-hooks in registration order; a CloseStack closes in reverse, so
  // peer servers stop before the directory holding their state files goes.
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/big.bin': { data } } }))
  const dir = stack.push(await createTmpDir('damselfly-swarm-', true))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  stack.defer(() => stopChild(sn.child))
  const homes = Array.from({ length: 8 }, (_, i) => join(dir.path, `host-${i}`))
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })

  const runs = await Promise.all(homes.map(async (home, i) =>
    await runDfgetProcess(['-u', origin.url('/big.bin'), '-o', join(dir.path, `out-${i}`), '-n', sn.node, '--home', home])))

  let fromPeers = 0
  let fromSupernode = 0
  for (const [i, run] of runs.entries()) {
    assert.equal(run.exitCode, 0, `dfget ${i}: ${run.stderr}`)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), digest, `output ${i} differs from the source`)
    const summary = parseSummary(run.stderr)
    assert.ok(summary !== undefined, `dfget ${i} printed no summary: ${run.stderr}`)
    fromPeers += summary.peers
    fromSupernode += summary.supernode
  }
  assert.ok(origin.readRatio('/big.bin') <= 1.05, `origin read ${origin.readRatio('/big.bin')}× the file`)
  const metrics = await (await fetch(`${sn.apiUrl}/metrics`)).text()
  const served = metricValue(metrics, 'dragonfly_supernode_pieces_downloaded_size_bytes_total')
  const cdnRead = metricValue(metrics, 'dragonfly_supernode_cdn_download_size_bytes_total')
  assert.ok(cdnRead >= data.length && cdnRead <= data.length * 1.05, `cdn read ${cdnRead} bytes`)
  t.diagnostic(`supernode served ${(served / (data.length * 8)).toFixed(3)} of the bytes; v2 syncs answered: ${metricValue(metrics, 'dragonfly_supernode_sync_answers_total')}`)
  assert.ok(served <= (data.length * 8) / 2, `supernode served ${served} of ${data.length * 8} bytes`)
  assert.ok(fromPeers > fromSupernode, `peers ${fromPeers} vs supernode ${fromSupernode} (dfget summaries)`)
})

test('with the supernode gone dfget completes from the source, and with --notbs it fails cleanly', async (t) => {
  const data = createTestData(3 * MiB + 17, 22)
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data } } }))
  const dir = stack.push(await createTmpDir('damselfly-bs-'))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  const node = sn.node
  await stopChild(sn.child)
  const home = join(dir.path, 'home')
  stack.defer(() => stopPeerServer(home))

  const ok = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir.path, 'out'), '-n', node, '--home', home])
  assert.equal(ok.exitCode, 0, ok.stderr)
  assert.equal(sha256Hex(await readFile(join(dir.path, 'out'))), sha256Hex(data))
  assert.ok((parseSummary(ok.stderr)?.source ?? 0) > 0, ok.stderr)

  const refused = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir.path, 'out2'), '-n', node, '--home', home, '--notbs'])
  assert.notEqual(refused.exitCode, 0)
  const lines = refused.stderr.trim().split('\n').filter((l) => l.startsWith('dfget:'))
  assert.match(lines.at(-1) ?? '', /DF_ERR_/)
  await assert.rejects(access(join(dir.path, 'out2')), 'no output file may exist after a failure')
})

test('a source that answers 404 fails with one clear line, a non-zero exit and no output', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: {} }))
  const dir = stack.push(await createTmpDir('damselfly-404-'))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  stack.defer(() => stopChild(sn.child))
  const home = join(dir.path, 'home')
  stack.defer(() => stopPeerServer(home))
  const run = await runDfgetProcess(['-u', origin.url('/nope.bin'), '-o', join(dir.path, 'out'), '-n', sn.node, '--home', home])
  assert.notEqual(run.exitCode, 0)
  assert.match(run.stderr, /404/)
  await assert.rejects(access(join(dir.path, 'out')))
})
