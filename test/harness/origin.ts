/**
 * startOrigin(): a real HTTP origin we control (STYLE.md B10.4). It serves files from
 * memory with correct Range support, ETag and Last-Modified, counts requests and bytes per
 * path so a test can assert "the source was read once", and produces faults on the socket:
 * error statuses, failing the first N requests, dropping the connection after K bytes,
 * throttling, a wrong Content-Length, ignoring Range. Redirect routes (`setRedirect`) answer
 * a path with a 3xx and a Location (another path, or a URL of another origin), so chains,
 * cross-host hops and loops can be built; every request's headers are kept per path, so a
 * test can assert what a hop was (not) sent. A file may require a signed URL
 * (`createUrlSignatures`): presigned-URL query strings that expire once a newer one is used.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash } from 'node:crypto'

/** Faults of one path; all optional and switchable at run time through `setFaults`. */
export interface OriginFaults {
  /** Answer every request with this status. */
  readonly status?: number
  /** Answer the first N requests with `failStatus` (default 503), then serve normally. */
  readonly failFirst?: number
  readonly failStatus?: number
  /** Destroy the socket after sending this many body bytes (per request). */
  readonly dropAfterBytes?: number
  /** Only drop the first N requests (default: all). */
  readonly dropFirst?: number
  /** Limit each response to this many bytes per second. */
  readonly throttleBytesPerSec?: number
  /** Ignore Range headers and send 200 with the whole body. */
  readonly ignoreRange?: boolean
  /** Send no Content-Length (chunked). */
  readonly chunked?: boolean
  /** Hold the response this long before sending headers. */
  readonly delayMs?: number
  /**
   * A fault for one request only, by its 1-based number on this path (counted like
   * `stats().requests`): an error status, a drop after K body bytes, or a stall after K body
   * bytes (the socket stays open and silent until the client gives up).
   */
  readonly perRequest?: (requestNumber: number) => RequestFault | undefined
}

/** A fault of one request (see OriginFaults.perRequest). */
export interface RequestFault {
  readonly status?: number
  readonly dropAfterBytes?: number
  readonly stallAfterBytes?: number
}

export interface OriginFile {
  data: Buffer
  faults?: OriginFaults
  /** Extra response headers. */
  headers?: Record<string, string>
  /** Required "Authorization" header value, else 401. */
  requireAuthorization?: string
  /** Required signed query (`createUrlSignatures`), else 403. */
  signatures?: UrlSignatures
}

/**
 * Presigned-URL signatures of an origin file, shaped as AWS SigV4's query
 * (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
 * `X-Amz-SignedHeaders`, `X-Amz-Signature`). Each `issue()` makes a new one; a signature is
 * refused (403) when it was never issued, or once a newer signature has been used: a
 * signature expires once used by a later client, so only the most recent one works.
 */
export interface UrlSignatures {
  /** A new signed query string (without `?`). */
  issue(): string
  /** Marks the signature of `query` used, as a check against the source with it would. */
  use(query: string): void
  /** `ok` (and marks it used), `unknown` or `expired` for a request's query string. */
  check(query: string): 'ok' | 'unknown' | 'expired'
  /** True once the signature of `query`, or a newer one, was used. */
  isUsed(query: string): boolean
  /** Requests refused so far. */
  readonly refused: number
}

export function createUrlSignatures (): UrlSignatures {
  const issued = new Map<string, number>()
  let newestUsed = 0
  let refused = 0
  const numberOf = (query: string): number | undefined => {
    const signature = new URLSearchParams(query).get('X-Amz-Signature')
    return signature === null ? undefined : issued.get(signature)
  }
  return {
    issue () {
      const n = issued.size + 1
      const signature = createHash('sha256').update(`signature ${n} ${Math.random()}`).digest('hex')
      issued.set(signature, n)
      const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
      return new URLSearchParams({
        'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
        'X-Amz-Credential': `AKIDTEST${n}/${date.slice(0, 8)}/us-east-1/s3/aws4_request`,
        'X-Amz-Date': date,
        'X-Amz-Expires': '300',
        'X-Amz-SignedHeaders': 'host',
        'X-Amz-Signature': signature,
      }).toString()
    },
    use (query) {
      const n = numberOf(query)
      if (n !== undefined) newestUsed = Math.max(newestUsed, n)
    },
    isUsed (query) {
      const n = numberOf(query)
      return n !== undefined && n <= newestUsed
    },
    check (query) {
      const n = numberOf(query)
      const verdict = n === undefined ? 'unknown' : n < newestUsed ? 'expired' : 'ok'
      if (verdict === 'ok' && n !== undefined) newestUsed = n
      else refused += 1
      return verdict
    },
    get refused () { return refused },
  }
}

export interface OriginStats {
  /** Requests per path (HEAD and GET). */
  readonly requests: number
  /** Body bytes sent per path. */
  readonly bytesSent: number
  /** Range headers seen, in order. */
  readonly ranges: readonly (string | undefined)[]
  /** Every request's headers, in order. */
  readonly headers: readonly IncomingHttpHeaders[]
}

/** A redirect route: `status` (301, 302, 303, 307, 308) with `location` (a path or a URL). */
export interface OriginRedirect {
  readonly status: number
  readonly location: string
  /** Extra response headers of the redirect (as Hugging Face's X-Linked-Etag on its redirect to LFS storage). */
  readonly headers?: Record<string, string>
}

export interface Origin {
  /** "http://127.0.0.1:port". */
  readonly baseUrl: string
  readonly port: number
  /** URL of `path`. */
  url(path: string): string
  /** Adds or replaces a file (a new ETag is derived from its content). */
  setFile(path: string, file: OriginFile): void
  setFaults(path: string, faults: OriginFaults | undefined): void
  /** Makes `path` answer with a redirect (it wins over a file at that path). */
  setRedirect(path: string, redirect: OriginRedirect): void
  stats(path: string): OriginStats
  /** Bytes sent for `path` divided by the file's length. */
  readRatio(path: string): number
  resetStats(): void
  close(): Promise<void>
}

interface Entry { file: OriginFile, etag: string, lastModified: string }

/** Starts an origin on 127.0.0.1 (or `host`) port 0. */
export async function startOrigin (options: { files?: Record<string, OriginFile>, redirects?: Record<string, OriginRedirect>, host?: string } = {}): Promise<Origin> {
  const entries = new Map<string, Entry>()
  const redirects = new Map<string, OriginRedirect>(Object.entries(options.redirects ?? {}))
  const stats = new Map<string, { requests: number, bytesSent: number, ranges: (string | undefined)[], headers: IncomingHttpHeaders[] }>()
  const sockets = new Set<Socket>()
  const statsOf = (path: string): { requests: number, bytesSent: number, ranges: (string | undefined)[], headers: IncomingHttpHeaders[] } => {
    let s = stats.get(path)
    if (s === undefined) { s = { requests: 0, bytesSent: 0, ranges: [], headers: [] }; stats.set(path, s) }
    return s
  }
  const setFile = (path: string, file: OriginFile): void => {
    const etag = `"${createHash('sha256').update(file.data).digest('hex').slice(0, 16)}"`
    entries.set(path, { file, etag, lastModified: new Date(Date.now() - 60_000).toUTCString() })
  }
  for (const [path, file] of Object.entries(options.files ?? {})) setFile(path, file)

  const server = createServer((req, res) => { handle(req, res) })
  server.on('connection', (socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)) })

  function handle (req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    const entry = entries.get(path)
    const s = statsOf(path)
    s.requests += 1
    s.ranges.push(req.headers.range)
    s.headers.push({ ...req.headers })
    const redirect = redirects.get(path)
    if (redirect !== undefined) { res.writeHead(redirect.status, { ...redirect.headers, location: redirect.location, 'content-type': 'text/plain' }).end(`see ${redirect.location}\n`); return }
    if (entry === undefined) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'); return }
    const { file } = entry
    const faults = file.faults ?? {}
    const requestIndex = s.requests
    const go = (): void => {
      if (file.requireAuthorization !== undefined && req.headers.authorization !== file.requireAuthorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="origin"' }).end('unauthorized\n'); return
      }
      if (file.signatures !== undefined) {
        const verdict = file.signatures.check((req.url ?? '').split('?')[1] ?? '')
        if (verdict !== 'ok') { res.writeHead(403, { 'content-type': 'text/plain' }).end(`signature ${verdict}\n`); return }
      }
      if (faults.status !== undefined) { res.writeHead(faults.status).end(`status ${faults.status}\n`); return }
      if (faults.failFirst !== undefined && requestIndex <= faults.failFirst) { res.writeHead(faults.failStatus ?? 503).end('injected failure\n'); return }
      const once = faults.perRequest?.(requestIndex)
      if (once?.status !== undefined) { res.writeHead(once.status).end('injected failure\n'); return }
      if (req.headers['if-none-match'] === entry.etag) { res.writeHead(304, { etag: entry.etag }).end(); return }
      const data = file.data
      let start = 0
      let end = data.length - 1
      let status = 200
      // If-Range naming another version: the whole current file (RFC 9110 §13.1.5).
      const ifRange = req.headers['if-range']
      const isStale = ifRange !== undefined && ifRange !== entry.etag && ifRange !== entry.lastModified
      const range = faults.ignoreRange === true || isStale ? undefined : /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '')
      if (range !== undefined && range !== null) {
        if (range[1] === '') { start = Math.max(0, data.length - Number(range[2])) } else {
          start = Number(range[1])
          end = range[2] === '' ? data.length - 1 : Math.min(Number(range[2]), data.length - 1)
        }
        if (start >= data.length || end < start) {
          res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end(); return
        }
        status = 206
      }
      const headers: Record<string, string | number> = {
        'content-type': 'application/octet-stream', 'accept-ranges': faults.ignoreRange === true ? 'none' : 'bytes', etag: entry.etag, 'last-modified': entry.lastModified, ...file.headers,
      }
      if (faults.chunked !== true) headers['content-length'] = end - start + 1
      if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${data.length}`
      res.writeHead(status, headers)
      if (req.method === 'HEAD') { res.end(); return }
      const drop = once?.dropAfterBytes ?? (faults.dropAfterBytes !== undefined && (faults.dropFirst === undefined || requestIndex <= faults.dropFirst) ? faults.dropAfterBytes : undefined)
      send(res, data.subarray(start, end + 1), s, drop, faults.throttleBytesPerSec, once?.stallAfterBytes)
    }
    if (faults.delayMs !== undefined) setTimeout(go, faults.delayMs); else go()
  }

  function send (res: ServerResponse, body: Buffer, s: { bytesSent: number }, dropAfterBytes: number | undefined, throttle: number | undefined, stallAfterBytes?: number): void {
    const chunkBytes = throttle === undefined ? 256 * 1024 : Math.max(1024, Math.floor(throttle / 20))
    let offset = 0
    const next = (): void => {
      if (res.destroyed) return
      if (offset >= body.length) { res.end(); return }
      let chunk = body.subarray(offset, offset + chunkBytes)
      if (stallAfterBytes !== undefined && offset + chunk.length >= stallAfterBytes) {
        chunk = chunk.subarray(0, Math.max(0, stallAfterBytes - offset))
        s.bytesSent += chunk.length
        res.write(chunk) // then silence: the socket stays open until the client or close() ends it
        return
      }
      if (dropAfterBytes !== undefined && offset + chunk.length >= dropAfterBytes) {
        chunk = chunk.subarray(0, Math.max(0, dropAfterBytes - offset))
        s.bytesSent += chunk.length
        res.write(chunk, () => { res.destroy() })
        return
      }
      offset += chunk.length
      s.bytesSent += chunk.length
      const ok = res.write(chunk)
      const after = (): void => { if (throttle === undefined) next(); else setTimeout(next, (chunk.length / throttle) * 1000) }
      if (ok) after(); else res.once('drain', after)
    }
    next()
  }

  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, options.host ?? '127.0.0.1', resolve) })
  const port = (server.address() as AddressInfo).port
  const host = options.host ?? '127.0.0.1'
  const baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  let closed: Promise<void> | undefined
  return {
    baseUrl,
    port,
    url: (path) => `${baseUrl}${path}`,
    setFile,
    setFaults (path, faults) {
      const entry = entries.get(path)
      if (entry === undefined) throw new Error(`no file ${path}`)
      if (faults === undefined) delete entry.file.faults; else entry.file.faults = faults
    },
    setRedirect (path, redirect) { redirects.set(path, redirect) },
    stats: (path) => {
      const s = statsOf(path)
      return { requests: s.requests, bytesSent: s.bytesSent, ranges: [...s.ranges], headers: [...s.headers] }
    },
    readRatio: (path) => {
      const entry = entries.get(path)
      return entry === undefined || entry.file.data.length === 0 ? 0 : statsOf(path).bytesSent / entry.file.data.length
    },
    resetStats: () => { stats.clear() },
    close: async () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => { resolve() })
        for (const socket of sockets) socket.destroy()
      })
      return await closed
    },
  }
}

/** Deterministic pseudo-random bytes (fast; for test files). */
export function createTestData (lengthBytes: number, seed = 1): Buffer {
  const data = Buffer.allocUnsafe(lengthBytes)
  let x = (seed * 2654435761) >>> 0 || 1
  let i = 0
  for (; i + 4 <= lengthBytes; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    data.writeUInt32LE(x, i)
  }
  for (; i < lengthBytes; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; data[i] = x & 0xff }
  return data
}

/** sha256 hex of a buffer. */
export function sha256Hex (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}
