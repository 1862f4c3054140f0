/**
 * dfdaemon in this process with the real swarm fetcher (DfgetStreamFetcher): its dfget runs
 * use the test peer's server, and the test may watch each run's configuration and result.
 */
import { createSilentLogger, type Logger } from '../../src/common/log.js'
import { runDfgetStream, type DfgetConfig, type DfgetResult } from '../../src/dfget/index.js'
import { resolveDfdaemonConfig } from '../../src/dfdaemon/config.js'
import { DfgetStreamFetcher } from '../../src/dfdaemon/dfget-stream-fetcher.js'
import { Dfdaemon } from '../../src/dfdaemon/dfdaemon.js'
import type { TestPeer } from './peer.js'

export interface SwarmDfdaemonOptions {
  readonly peer: TestPeer
  readonly registryUrl: string
  /** Supernodes as host:port (dfget's -n). */
  readonly nodes: readonly string[]
  readonly prefetch?: boolean
  /** dfdaemon's logger (default silent): a test may read what it logs. */
  readonly logger?: Logger
  /** `--notbs` when false (default true). */
  readonly backSource?: boolean
  /** Every dfget run's configuration, as it starts. */
  readonly onRun?: (config: DfgetConfig) => void
  /** Every swarm download that delivered its last byte. */
  readonly onResult?: (result: DfgetResult) => void
}

/** A started dfdaemon; close it (it is a resource). */
export async function startSwarmDfdaemon (options: SwarmDfdaemonOptions): Promise<Dfdaemon> {
  const { peer } = options
  const dfdaemon = new Dfdaemon({
    logger: options.logger ?? createSilentLogger(),
    createFetcher: () => new DfgetStreamFetcher({
      logger: createSilentLogger(),
      ...(options.onResult === undefined ? {} : { onResult: options.onResult }),
      runDfgetStream: async (config, deps) => {
        options.onRun?.(config)
        return await runDfgetStream(config, { ...deps, peerServerLocator: peer.locator })
      },
    }, { homeDir: peer.homeDir, nodes: options.nodes, ...(options.prefetch === undefined ? {} : { prefetch: options.prefetch }) }),
  }, resolveDfdaemonConfig({ port: 0, homeDir: peer.homeDir, registryUrl: options.registryUrl, ...(options.backSource === undefined ? {} : { backSource: options.backSource }) }))
  await dfdaemon.start()
  return dfdaemon
}
