/**
 * The byte path of a host's downloads, shared by every run of a process (the host agent,
 * dfdaemon) so that connections, buffers and the hashing thread are made once:
 *
 * - `reader` fetches pieces over keep-alive connections straight into `buffers`' memory
 *   (common/http/range-reader.ts); `http` is the client for everything else (the source,
 *   https piece servers);
 * - `buffers` holds the piece buffers, reused from piece to piece (warm memory, no page
 *   faults; shared memory, so the hashing thread reads them in place);
 * - `digests` hashes pieces on the event loop while they arrive at a network link's pace
 *   and on a worker thread beyond it (loopback, fast links): see DigestPool.
 *
 * A run that was given no data plane makes its own and closes it at its end.
 */
import { BufferPool } from '../common/buffer-pool.js'
import { DigestPool } from '../common/digest-pool.js'
import { HttpClient } from '../common/http/client.js'
import { RangeReader } from '../common/http/range-reader.js'
import { loadCaCert } from './ca-cert.js'

/** Pieces are hashed on the event loop while they arrive at up to this rate, on a worker thread beyond it. */
const HASH_IN_PLACE_BYTES_PER_SEC = 64 * 1024 * 1024

/** A run's data client (pieces and the source). */
export const DATA_CLIENT_OPTIONS = { timeoutMs: 30_000, connectionsPerOrigin: 16 } as const

export interface DataPlane {
  readonly http: HttpClient
  readonly reader: RangeReader
  readonly buffers: BufferPool
  readonly digests: DigestPool
  close(): Promise<void>
}

/**
 * A data plane; `buffers` shares a pool with the caller (the peer server's, in the host
 * agent); `caCert` is trusted besides the system CAs for https piece servers (data ports
 * with TLS) and sources. https pieces go through `http` (the range reader takes plain http only).
 */
export function createDataPlane (options: { buffers?: BufferPool, caCert?: Buffer } = {}): DataPlane {
  const http = new HttpClient({ ...DATA_CLIENT_OPTIONS, ...(options.caCert === undefined ? {} : { caCert: options.caCert }) })
  const reader = new RangeReader({ timeoutMs: DATA_CLIENT_OPTIONS.timeoutMs, connectionsPerOrigin: DATA_CLIENT_OPTIONS.connectionsPerOrigin })
  const digests = new DigestPool({ threads: 1, inPlaceBytesPerSec: HASH_IN_PLACE_BYTES_PER_SEC })
  return {
    http,
    reader,
    buffers: options.buffers ?? new BufferPool(),
    digests,
    close: async () => {
      await Promise.all([http.close(), reader.close(), digests.close()])
    },
  }
}

/** The data plane of one run that was given none: trusting `--cacert` (https piece servers) when set. @throws DF_ERR_CONFIG_INVALID */
export async function createRunDataPlane (caCertPath: string | undefined): Promise<DataPlane> {
  const caCert = await loadCaCert(caCertPath)
  return createDataPlane(caCert === undefined ? {} : { caCert })
}
