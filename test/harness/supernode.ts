/**
 * startTestSupernode(): a real Supernode in this process on 127.0.0.1 port 0 (one server
 * for API and data), with a temp home dir, a silent logger (or the one given) and a
 * SupernodeClient for it. `close()` closes the client, the supernode and removes the dir;
 * pass the test context to have that registered with `t.after`.
 */
import type { TestContext } from 'node:test'
import type { Clock } from '../../src/common/clock.js'
import { createSilentLogger, type Logger } from '../../src/common/log.js'
import { SupernodeClient } from '../../src/supernode/client.js'
import type { SupernodeOptions } from '../../src/supernode/config.js'
import { Supernode } from '../../src/supernode/supernode.js'
import { createTmpDir } from './tmp-dir.js'

export interface TestSupernodeOptions extends SupernodeOptions {
  readonly logger?: Logger
  readonly clock?: Clock
}

export interface TestSupernode {
  readonly supernode: Supernode
  readonly apiUrl: string
  readonly downloadUrl: string
  readonly client: SupernodeClient
  readonly homeDir: string
  close(): Promise<void>
}

export async function startTestSupernode (t?: Pick<TestContext, 'after'>, options: TestSupernodeOptions = {}): Promise<TestSupernode> {
  const { logger, clock, ...supernodeOptions } = options
  const ownDir = supernodeOptions.homeDir === undefined ? await createTmpDir('damselfly-supernode-') : undefined
  const homeDir = supernodeOptions.homeDir ?? ownDir?.path ?? ''
  const supernode = new Supernode(
    { logger: logger ?? createSilentLogger(), ...(clock === undefined ? {} : { clock }) },
    { listen: '127.0.0.1', port: 0, downloadPort: 0, randomSeed: 42, ...supernodeOptions, homeDir },
  )
  let addresses
  try {
    addresses = await supernode.start()
  } catch (err) {
    await supernode.close()
    await ownDir?.close()
    throw err
  }
  const client = new SupernodeClient({ baseUrl: addresses.apiUrl, keepAliveTimeoutMs: 1_000 })
  let closing: Promise<void> | undefined
  const handle: TestSupernode = {
    supernode,
    apiUrl: addresses.apiUrl,
    downloadUrl: addresses.downloadUrl,
    client,
    homeDir,
    close: async () => {
      closing ??= (async () => {
        await client.close()
        await supernode.close()
        await ownDir?.close()
      })()
      await closing
    },
  }
  t?.after(async () => { await handle.close() })
  return handle
}
