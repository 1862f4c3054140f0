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
  /** A fake disk for the cache budget's free-space check. */
  readonly fetchFreeBytes?: (path: string) => Promise<number>
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
  const { logger, clock, fetchFreeBytes, ...supernodeOptions } = options
  const ownDir = supernodeOptions.homeDir === undefined ? await createTmpDir('damselfly-supernode-') : undefined
  const homeDir = supernodeOptions.homeDir ?? ownDir?.path ?? ''
  const supernode = new Supernode(
    { logger: logger ?? createSilentLogger(), ...(clock === undefined ? {} : { clock }), ...(fetchFreeBytes === undefined ? {} : { fetchFreeBytes }) },
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

/** Polls the task until the CDN holds the whole file (or failed); fails after `timeoutMs`. */
export async function waitForCdn (client: SupernodeClient, taskId: string, timeoutMs = 10_000): Promise<'success' | 'failed'> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const info = await client.getTask(taskId)
    if (info.cdnStatus !== 'running') return info.cdnStatus
    if (Date.now() > deadline) throw new Error(`CDN of ${taskId} still running after ${timeoutMs} ms (${info.cachedPieces}/${info.pieceCount} pieces)`)
    await new Promise<void>((resolve) => { setTimeout(resolve, 5) })
  }
}

/** Reads one metric's value (first sample matching `labels`) from Prometheus text; 0 when absent. */
export function metricValue (text: string, name: string, labels: Readonly<Record<string, string>> = {}): number {
  let total: number | undefined
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const match = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line)
    if (match?.[1] !== name) continue
    const labelText = match[2] ?? ''
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`))) total = (total ?? 0) + Number(match[3])
  }
  return total ?? 0
}
