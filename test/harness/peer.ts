/**
 * startTestPeer(): one "host" of an in-process swarm — a real PeerServer on 127.0.0.1 port 0
 * with its own temp --home (state file written, as a launched one would), and the locator
 * that hands it to runDfget. `close()` stops the server and removes the home; pass the test
 * context to have that registered with `t.after`.
 */
import type { TestContext } from 'node:test'
import { createSilentLogger, type Logger } from '../../src/common/log.js'
import { PeerServer } from '../../src/dfget/uploader/peer-server.js'
import type { PeerServerLocator } from '../../src/dfget/uploader/peer-server-launcher.js'
import { createTmpDir } from './tmp-dir.js'

export interface TestPeer {
  readonly server: PeerServer
  readonly homeDir: string
  readonly locator: PeerServerLocator
  close(): Promise<void>
}

export async function startTestPeer (t?: Pick<TestContext, 'after'>, options: { logger?: Logger, aliveTimeMs?: number, expireTimeMs?: number } = {}): Promise<TestPeer> {
  const home = await createTmpDir('damselfly-host-')
  const server = new PeerServer({ logger: options.logger ?? createSilentLogger() }, {
    homeDir: home.path,
    listenHost: '127.0.0.1',
    port: 0,
    aliveTimeMs: options.aliveTimeMs ?? 5 * 60_000,
    expireTimeMs: options.expireTimeMs ?? 3 * 60_000,
    uploadRateBytesPerSec: 0,
  })
  try {
    await server.start()
  } catch (err) {
    await server.close()
    await home.close()
    throw err
  }
  let closing: Promise<void> | undefined
  const peer: TestPeer = {
    server,
    homeDir: home.path,
    locator: { locate: async () => ({ peerId: server.peerId, port: server.port, localUrl: server.localUrl }) },
    close: async () => {
      closing ??= (async () => {
        await server.close()
        await home.close()
      })()
      await closing
    },
  }
  t?.after(async () => { await peer.close() })
  return peer
}
