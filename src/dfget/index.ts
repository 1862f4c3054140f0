/**
 * dfget as a library (used by dfdaemon and by in-process swarm tests): `runDfget(config,
 * deps)` downloads one URL through the swarm, and the peer server can run in process.
 */
import { Dfget, type DfgetDeps, type DfgetResult } from './dfget.js'
import type { DfgetConfig } from './config.js'
import { DfgetStreamRun, type DfgetStream } from './dfget-stream.js'

/**
 * Stream mode: registers and resolves with the file's length and its bytes in order as a
 * Readable (nothing is written to disk). `body` errors with a DfError when the download
 * fails part-way (after back-source failed or was forbidden); `result` settles after the
 * body was delivered; `deps.signal` aborts it, and so does destroying `body`.
 * @throws DfError when the download cannot start
 */
export async function runDfgetStream (config: DfgetConfig, deps: DfgetDeps = {}): Promise<DfgetStream> {
  return await new DfgetStreamRun(config, deps).start()
}

/** Downloads `config.url` to `config.output`. @throws DfError (see docs/errors.md) */
export async function runDfget (config: DfgetConfig, deps: DfgetDeps = {}): Promise<DfgetResult> {
  return await new Dfget(config, deps).run()
}

export type { DfgetDeps, DfgetResult } from './dfget.js'
export { createDataPlane, type DataPlane } from './data-plane.js'
export type { DfgetStream } from './dfget-stream.js'
export { resolveDfgetConfig, DEFAULT_NODE, DEFAULT_WINDOW_PIECES, DOWNLOAD_PATTERNS, type DfgetConfig, type DfgetOptions, type DownloadPattern } from './config.js'
export { TransferStats } from './downloader/transfer-stats.js'
export { formatSummaryLine, formatErrorLine } from './summary.js'
export { PeerServer, type PeerServerDeps, type PeerServerRunOptions } from './uploader/peer-server.js'
export { resolvePeerServerConfig, type PeerServerConfig, type PeerServerOptions } from './uploader/peer-server-config.js'
export { PeerServerLauncher, type HostedPeerServer, type PeerServerHandle, type PeerServerLocator } from './uploader/peer-server-launcher.js'
export { PeerClient } from './uploader/peer-client.js'
export { createSupernodeLocator, orderSupernodes, SupernodeLocator } from './supernode-locator.js'
export { loadCaCert } from './ca-cert.js'
export { SupernodeResolver } from './supernode-resolver.js'
export { writePeerServerState } from './uploader/peer-server-state.js'
export { createHomeLayout } from './home-layout.js'
export { loadDfgetConfigFile } from './config-file.js'
