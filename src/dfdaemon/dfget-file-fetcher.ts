/**
 * The first P2pFetcher: runs dfget's pipeline in process (`runDfget`, the same peer server
 * per --home as the dfget CLI) into a temp file under `<home>/dfdaemon/tmp`, then streams
 * that file and deletes it once read. The engine therefore gets its first byte only after
 * the whole file is in; dfget's stream mode (the sliding window) will replace this class
 * behind the same interface so bytes flow as pieces arrive.
 *
 * The blob's digest goes to dfget as its content `digest`: it alone identifies the task, so
 * the same layer through two registries (or preheated by the supernode from a manifest)
 * is one task, and dfget verifies the whole file against it.
 */
import { randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { DfError } from '../protocol/errors.js'
import type { Logger } from '../common/log.js'
import { resolveDfgetConfig, runDfget, type DfgetConfig, type DfgetDeps, type DfgetResult } from '../dfget/index.js'
import type { P2pFetcher, P2pFetchRequest, P2pStream } from './p2p-fetcher.js'

export interface DfgetFileFetcherDeps {
  readonly logger: Logger
  /** Called after each finished swarm download (for metrics and logs). */
  readonly onResult?: (result: DfgetResult) => void
  /** The dfget pipeline; injectable for tests. Default runDfget. */
  readonly runDfget?: (config: DfgetConfig, deps: DfgetDeps) => Promise<DfgetResult>
}

export interface DfgetFileFetcherOptions {
  readonly homeDir: string
  /** Supernodes, as dfget's -n. */
  readonly nodes: readonly string[]
  /** Let dfget fetch pieces from the source when the swarm cannot. */
  readonly backSource: boolean
}

export class DfgetFileFetcher implements P2pFetcher {
  readonly #deps: DfgetFileFetcherDeps
  readonly #options: DfgetFileFetcherOptions
  readonly #tmpDir: string
  readonly #abort = new AbortController()
  #closed = false

  constructor (deps: DfgetFileFetcherDeps, options: DfgetFileFetcherOptions) {
    this.#deps = deps
    this.#options = options
    this.#tmpDir = join(options.homeDir, 'dfdaemon', 'tmp')
  }

  /** @throws DfError from dfget (see docs/errors.md) when the swarm cannot deliver */
  async fetch (request: P2pFetchRequest): Promise<P2pStream> {
    if (this.#closed) throw new DfError('DF_ERR_TASK_SWARM_FAILED', 'the fetcher is closed')
    await mkdir(this.#tmpDir, { recursive: true })
    const output = join(this.#tmpDir, `${randomUUID()}.blob`)
    const config = resolveDfgetConfig({
      url: request.url,
      output,
      node: [...this.#options.nodes],
      home: this.#options.homeDir,
      header: Object.entries(request.headers).map(([name, value]) => `${name}: ${value}`),
      notbs: !this.#options.backSource,
      ...(request.digest === undefined ? {} : { digest: request.digest }),
    })
    const runDfgetFn = this.#deps.runDfget ?? runDfget
    try {
      const result = await runDfgetFn(config, { logger: this.#deps.logger, signal: AbortSignal.any([request.signal, this.#abort.signal]) })
      this.#deps.onResult?.(result)
      const { size } = await stat(output)
      const body = createReadStream(output, { highWaterMark: 1024 * 1024 })
      body.once('close', () => { void rm(output, { force: true }) })
      return { lengthBytes: size, body }
    } catch (err) {
      await rm(output, { force: true })
      throw err
    }
  }

  /** Aborts running downloads and removes the temp directory. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#abort.abort()
    await rm(this.#tmpDir, { recursive: true, force: true })
  }
}
