/**
 * Fault scenario of issue 5 with the real binaries: a full disk — the output directory,
 * `--home`, the supernode's home — on tmpfs mounts (root only; test/harness/fault-fixture.ts,
 * docs/reliability.md).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { SupernodeClient } from '../../src/supernode/client.js'
import { parseSummary, stopPeerServer } from '../harness/processes.js'
import { exists, FaultFixture, isAlive, MiB, peerServerPid } from '../harness/fault-fixture.js'
import { assertCompleted } from '../harness/scenario-assert.js'

/** Mounts a tmpfs of `sizeBytes` at `path`, unmounted at the end; resizable. */
async function mountTmpfs (fx: FaultFixture, path: string, sizeBytes: number): Promise<{ resize(sizeBytes: number): void }> {
  await mkdir(path, { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', path])
  fx.defer(() => { execFileSync('umount', ['-l', path]) })
  return { resize: (size) => { execFileSync('mount', ['-o', `remount,size=${size}`, path]) } }
}

test('disk full (output dir, --home, supernode home): a clear error, no partial output, recovery', { skip: process.getuid?.() !== 0 ? 'needs root (tmpfs mounts)' : false }, async (t) => {
  const data = FaultFixture.data(8 * MiB, 61)
  const fx = await FaultFixture.start(t, { '/f.bin': data })
  // The full supernode cache reads the file once more after space returns.
  fx.expectOriginBytes(2 * data.length)
  const url = fx.origin.url('/f.bin')
  const small = fx.path('small')
  await mountTmpfs(fx, small, 2 * MiB)
  const snSmall = fx.path('sn-small')
  const snDisk = await mountTmpfs(fx, snSmall, 2 * MiB)
  const sn = await fx.startSupernode(join(snSmall, 'home'))

  // The supernode's cache cannot hold the file: the client still completes (back-source).
  assertCompleted('a client while the supernode\'s disk is full', await fx.dfget(url, 'out-a', [sn.node], 'a'), data)

  // The output directory is full: a clear error, non-zero exit, nothing left there.
  const outFull = await fx.dfget(url, join(small, 'out'), [sn.node], 'b')
  const pidB = await peerServerPid(fx.home('b'))
  assert.ok(pidB !== undefined && isAlive(pidB), 'the host\'s peer server keeps running after the failed write')
  assert.notEqual(outFull.exitCode, 0)
  assert.match(outFull.stderr, /DF_ERR_TASK_WRITE_FAILED/, 'a full output directory fails with DF_ERR_TASK_WRITE_FAILED')
  assert.deepEqual(await readdir(small), [], 'a full output directory holds no partial output')

  // The --home is full: the same.
  const homeFull = await fx.dfget(url, 'out-c', [sn.node], join(small, 'home'))
  await stopPeerServer(join(small, 'home'))
  assert.notEqual(homeFull.exitCode, 0)
  assert.match(homeFull.stderr, /DF_ERR_TASK_WRITE_FAILED/, 'a full --home fails with DF_ERR_TASK_WRITE_FAILED')
  assert.ok(!await exists(fx.path('out-c')), 'a full --home leaves no output')

  // Space returns: the same supernode caches the file and serves it.
  snDisk.resize(64 * MiB)
  const client = new SupernodeClient({ baseUrl: sn.apiUrl })
  try {
    await client.ping()
  } finally {
    await client.close()
  }
  const after = await fx.dfget(url, 'out-d', [sn.node], 'd')
  assertCompleted('a client once space returned', after, data)
  assert.equal(parseSummary(after.stderr)?.source, 0, `once space returned the client got the file from the swarm: ${after.stderr}`)
})
