import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { createSilentLogger } from '../../common/log.js'
import { createHomeLayout } from '../home-layout.js'
import { PeerServerLauncher } from './peer-server-launcher.js'
import { PeerClient } from './peer-client.js'
import { isProcessAlive, readPeerServerState } from './peer-server-state.js'

/** Stops the detached peer server of a home (by the pid in its state file) and waits for it to go. */
async function stopServerOf (home: string): Promise<void> {
  const state = await readPeerServerState(createHomeLayout(home))
  if (state === undefined || !isProcessAlive(state.pid)) return
  process.kill(state.pid, 'SIGTERM')
  const deadline = Date.now() + 10_000
  while (isProcessAlive(state.pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  if (isProcessAlive(state.pid)) process.kill(state.pid, 'SIGKILL')
}

const launcherFor = (home: string) => new PeerServerLauncher({ logger: createSilentLogger() }, { homeDir: home, serverArgs: ['--ip', '127.0.0.1'], startTimeoutMs: 60_000 })

test('two dfgets of one home starting at once share one peer server; another home gets its own', async (t) => {
  const dir = await createTmpDir('damselfly-launch-')
  const homeA = join(dir.path, 'a')
  const homeB = join(dir.path, 'b')
  // node:test runs after-hooks in registration order: stop the servers before removing their homes.
  t.after(async () => { await Promise.all([stopServerOf(homeA), stopServerOf(homeB)]); await dir.close() })

  const [first, second, other] = await Promise.all([launcherFor(homeA).locate(), launcherFor(homeA).locate(), launcherFor(homeB).locate()])
  assert.equal(first.port, second.port)
  assert.equal(first.peerId, second.peerId)
  assert.notEqual(first.port, other.port)
  assert.notEqual(first.peerId, other.peerId)

  const stateA = await readPeerServerState(createHomeLayout(homeA))
  assert.ok(stateA !== undefined && stateA.pid !== process.pid && isProcessAlive(stateA.pid), 'a detached child serves home a')
  const client = new PeerClient({ baseUrl: first.localUrl, keepAliveTimeoutMs: 100 })
  t.after(() => client.close())
  assert.equal((await client.ping()).pid, stateA.pid)

  // A later dfget reuses it.
  const later = await launcherFor(homeA).locate()
  assert.equal(later.port, first.port)
  assert.equal((await readPeerServerState(createHomeLayout(homeA)))?.pid, stateA.pid)
})

test('a start lock left by a dead process is taken over', async (t) => {
  const dir = await createTmpDir('damselfly-lock-')
  const home = join(dir.path, 'h')
  t.after(async () => { await stopServerOf(home); await dir.close() })
  const layout = createHomeLayout(home)
  await launcherFor(home).locate().then(() => stopServerOf(home))
  // A pid far above any live one stands for a dfget that died while starting the server.
  await writeFile(layout.lockPath, '4194000\n')
  const handle = await launcherFor(home).locate()
  assert.ok(handle.port > 0)
})
