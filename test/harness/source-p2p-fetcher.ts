/**
 * A P2pFetcher for dfdaemon's component tests that fetches straight from the source (no
 * supernode), with switchable faults: refuse to start, fail after K bytes, flip a byte. It
 * records every request so a test can assert the URL, the digest and the headers the swarm
 * was given. A real implementation of the seam, not a mock: bytes move over loopback.
 */
import { Readable, Transform } from 'node:stream'
import { Agent } from 'undici'
import { DfError } from '../../src/protocol/errors.js'
import { holdForReader, type BufferPool } from '../../src/common/buffer-pool.js'
import type { P2pFetcher, P2pFetchRequest, P2pStream } from '../../src/dfdaemon/p2p-fetcher.js'

export interface SourceFetcherFaults {
  /** Throw instead of starting. */
  readonly failStart?: boolean
  /** Error the stream after this many bytes. */
  readonly failAfterBytes?: number
  /** Flip the byte at this offset. */
  readonly corruptAt?: number
}

export class SourceP2pFetcher implements P2pFetcher {
  readonly requests: { url: string, headers: Record<string, string>, digest: string | undefined }[] = []
  /** Manifest URLs the proxy asked to prefetch, with the engine's Authorization. */
  readonly prefetches: { url: string, authorization: string | undefined, manifest: Buffer | undefined }[] = []
  faults: SourceFetcherFaults = {}
  /** When set, every chunk comes in a buffer of this pool with the reader's hold, as a stream window hands pieces out. */
  pool: BufferPool | undefined
  readonly #agent = new Agent({ keepAliveTimeout: 1_000 })

  async fetch (request: P2pFetchRequest): Promise<P2pStream> {
    this.requests.push({ url: request.url, headers: { ...request.headers }, digest: request.digest })
    const faults = this.faults
    if (faults.failStart === true) throw new DfError('DF_ERR_TASK_SWARM_FAILED', 'test: swarm refused to start')
    const url = new URL(request.url)
    const response = await this.#agent.request({ origin: url.origin, path: `${url.pathname}${url.search}`, method: 'GET', headers: request.headers, signal: request.signal })
    if (response.statusCode !== 200) {
      await response.body.dump()
      throw new DfError('DF_ERR_SOURCE_STATUS', `test: source answered ${response.statusCode}`, { details: { status: response.statusCode } })
    }
    const length = Number(response.headers['content-length'])
    const pool = this.pool
    let offset = 0
    const faulty = new Transform({
      transform (chunk: Buffer, _encoding, callback) {
        let out = chunk
        if (faults.corruptAt !== undefined && faults.corruptAt >= offset && faults.corruptAt < offset + chunk.length) {
          out = Buffer.from(chunk)
          out[faults.corruptAt - offset] = (out[faults.corruptAt - offset] ?? 0) ^ 0xff
        }
        if (faults.failAfterBytes !== undefined && offset + chunk.length > faults.failAfterBytes) {
          const keep = out.subarray(0, Math.max(0, faults.failAfterBytes - offset))
          offset += keep.length
          if (keep.length > 0) this.push(keep)
          callback(new DfError('DF_ERR_PIECE_NOT_AVAILABLE', 'test: swarm failed part-way'))
          return
        }
        offset += chunk.length
        if (pool !== undefined) {
          const shared = pool.acquireShared(out.length)
          out.copy(shared.bytes)
          holdForReader(shared.bytes, shared)
          shared.release()
          out = shared.bytes
        }
        callback(null, out)
      },
    })
    const body = (response.body as unknown as Readable).pipe(faulty)
    return { lengthBytes: Number.isFinite(length) ? length : undefined, body }
  }

  prefetchImage (manifestUrl: string, authorization: string | undefined, manifest?: Buffer): void {
    this.prefetches.push({ url: manifestUrl, authorization, manifest })
  }

  async close (): Promise<void> {
    await this.#agent.destroy()
  }
}
