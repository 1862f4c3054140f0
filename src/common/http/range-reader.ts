/**
 * RangeReader: HTTP/1.1 range GETs whose body the kernel copies straight into the caller's
 * buffer (net.Socket `onread`), over keep-alive connections per origin. It exists for one
 * job, the piece fetch, where the project's HTTP client (client.ts, undici) costs a copy
 * into WebAssembly memory, a copy out of it and a fresh buffer per chunk: at loopback speed
 * that, and the page faults of the fresh buffers, was most of a download's CPU.
 *
 * Only what the piece servers (supernode download port, peer servers) answer is accepted:
 * `206` with a Content-Length equal to the range and a Content-Range naming it. An error
 * status's body in our error shape becomes the same DfError the HTTP client would raise
 * (so `DF_ERR_PIECE_NOT_AVAILABLE` stays retryable); anything else fails the read with
 * DF_ERR_NETWORK and closes the connection. `https:` URLs are not taken (`supports`): the
 * caller uses the HTTP client for them.
 */
import { connect, type Socket } from 'node:net'
import { DfError, fromWire, type ErrorCode } from '../../protocol/errors.js'
import { redactUrl } from './redact-url.js'

export interface RangeReaderOptions {
  /** Deadline for the response headers, and for each gap in the body. Default 30 s. */
  readonly timeoutMs?: number
  /** Deadline to open a connection. Default 5 s. */
  readonly connectTimeoutMs?: number
  /** How long an idle keep-alive connection is kept. Default 4 s (below Node servers' 5 s). */
  readonly keepAliveTimeoutMs?: number
  /** Most connections per origin. Default 16. */
  readonly connectionsPerOrigin?: number
}

export interface RangeReadRequest {
  readonly url: string
  /** First byte, inclusive. */
  readonly start: number
  /** Where the body goes: exactly `target.length` bytes from `start` are read. */
  readonly target: Buffer
  readonly headers?: Readonly<Record<string, string>>
  readonly signal?: AbortSignal
  readonly timeoutMs?: number
  /** Code for an error status whose body is not in our error shape. Default DF_ERR_NETWORK. */
  readonly foreignStatusCode?: ErrorCode
}

const HEADER_BYTES = 16 * 1024
const MAX_ERROR_BODY_BYTES = 64 * 1024
const HEADER_END = Buffer.from('\r\n\r\n')

export class RangeReader {
  readonly #timeoutMs: number
  readonly #connectTimeoutMs: number
  readonly #keepAliveTimeoutMs: number
  readonly #maxPerOrigin: number
  readonly #origins = new Map<string, OriginPool>()
  #closed = false

  constructor (options: RangeReaderOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000
    this.#keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 4_000
    this.#maxPerOrigin = options.connectionsPerOrigin ?? 16
  }

  /** True for URLs this reader takes (plain http). */
  supports (url: string): boolean {
    return url.startsWith('http://')
  }

  /** Reads `target.length` bytes from `start` of `url` into `target`. @throws DfError */
  async readInto (request: RangeReadRequest): Promise<void> {
    if (this.#closed) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'range reader closed')
    const url = new URL(request.url)
    const pool = this.#poolOf(url)
    // A kept-alive connection the server closed meanwhile fails before any byte: once more on a new one.
    for (let attempt = 0; ; attempt++) {
      const connection = await pool.take(request.signal)
      const reused = connection.requests > 0
      try {
        await connection.read(url, request, request.timeoutMs ?? this.#timeoutMs)
        pool.give(connection)
        return
      } catch (err) {
        pool.drop(connection)
        if (reused && attempt === 0 && err instanceof StaleConnection && request.signal?.aborted !== true) continue
        throw err instanceof StaleConnection ? err.cause : err
      }
    }
  }

  /** Closes every connection. Idempotent. */
  async close (): Promise<void> {
    this.#closed = true
    for (const pool of this.#origins.values()) pool.close()
    this.#origins.clear()
  }

  #poolOf (url: URL): OriginPool {
    const key = url.host
    let pool = this.#origins.get(key)
    if (pool === undefined) {
      pool = new OriginPool({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port === '' ? 80 : url.port), max: this.#maxPerOrigin, connectTimeoutMs: this.#connectTimeoutMs, keepAliveTimeoutMs: this.#keepAliveTimeoutMs })
      this.#origins.set(key, pool)
    }
    return pool
  }
}

/** A failure on a reused connection before the response began (the server had closed it). */
class StaleConnection extends Error {
  constructor (override readonly cause: DfError) { super(cause.message) }
}

interface OriginPoolOptions { host: string, port: number, max: number, connectTimeoutMs: number, keepAliveTimeoutMs: number }

/** The connections to one origin: idle ones kept alive, at most `max` open. */
class OriginPool {
  readonly #options: OriginPoolOptions
  readonly #idle: Connection[] = []
  readonly #waiters: ((connection: Connection | undefined) => void)[] = []
  #open = 0

  constructor (options: OriginPoolOptions) {
    this.#options = options
  }

  async take (signal: AbortSignal | undefined): Promise<Connection> {
    signal?.throwIfAborted()
    for (;;) {
      const idle = this.#idle.pop()
      if (idle === undefined) break
      if (idle.usable) { idle.unidle(); return idle }
      this.#open -= 1
    }
    if (this.#open < this.#options.max) {
      this.#open += 1
      return new Connection(this.#options)
    }
    const connection = await new Promise<Connection | undefined>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter)
        if (i >= 0) this.#waiters.splice(i, 1)
        reject(abortReason(signal))
      }
      const waiter = (c: Connection | undefined): void => { signal?.removeEventListener('abort', onAbort); resolve(c) }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiters.push(waiter)
    })
    return connection ?? await this.take(signal)
  }

  give (connection: Connection): void {
    if (!connection.usable) { this.drop(connection); return }
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) { waiter(connection); return }
    connection.idle(() => {
      const i = this.#idle.indexOf(connection)
      if (i >= 0) { this.#idle.splice(i, 1); this.#open -= 1 }
    })
    this.#idle.push(connection)
  }

  drop (connection: Connection): void {
    connection.destroy()
    this.#open -= 1
    // A slot freed: a waiter opens its own connection.
    this.#waiters.shift()?.(undefined)
  }

  close (): void {
    for (const connection of this.#idle) connection.destroy()
    this.#idle.length = 0
  }
}

type State = 'idle' | 'headers' | 'body' | 'errorBody'

interface Active {
  readonly describe: string
  readonly url: string
  readonly request: RangeReadRequest
  readonly resolve: () => void
  readonly reject: (err: Error) => void
  status: number
  errorBody: Buffer | undefined
  offset: number
  responded: boolean
}

/** One keep-alive connection; reads the body of the response in flight into its target. */
class Connection {
  readonly #socket: Socket
  readonly #options: OriginPoolOptions
  readonly #header = Buffer.allocUnsafe(HEADER_BYTES)
  #headerLength = 0
  #state: State = 'idle'
  #active: Active | undefined
  #keepAlive = true
  #dead = false
  #onIdleClose: (() => void) | undefined
  requests = 0

  constructor (options: OriginPoolOptions) {
    this.#options = options
    this.#socket = connect({
      host: options.host,
      port: options.port,
      noDelay: true,
      onread: { buffer: () => this.#nextBuffer(), callback: (n: number) => { this.#onRead(n); return true } },
    })
    this.#socket.setTimeout(options.connectTimeoutMs)
    this.#socket.on('timeout', () => { this.#fail(new DfError('DF_ERR_TIMEOUT', `${this.#active?.describe ?? 'GET'}: timed out`)) })
    this.#socket.on('error', (err: NodeJS.ErrnoException) => { this.#fail(new DfError('DF_ERR_NETWORK', `${this.#active?.describe ?? 'GET'}: ${err.code ?? err.message}`, { cause: err })) })
    this.#socket.on('close', () => { this.#fail(new DfError('DF_ERR_NETWORK', `${this.#active?.describe ?? 'GET'}: the connection closed`)) })
  }

  get usable (): boolean {
    return !this.#dead && this.#keepAlive && this.#state === 'idle'
  }

  /** Parks the connection: it closes itself after the keep-alive time. */
  idle (onClose: () => void): void {
    this.#onIdleClose = onClose
    this.#socket.setTimeout(this.#options.keepAliveTimeoutMs)
  }

  unidle (): void {
    this.#onIdleClose = undefined
  }

  destroy (): void {
    this.#dead = true
    this.#socket.destroy()
  }

  async read (url: URL, request: RangeReadRequest, timeoutMs: number): Promise<void> {
    const describe = `GET ${redactUrl(request.url)}`
    const end = request.start + request.target.length - 1
    let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\nrange: bytes=${request.start}-${end}\r\naccept: */*\r\nconnection: keep-alive\r\n`
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new DfError('DF_ERR_ARG_INVALID', `header ${JSON.stringify(name)} holds a line break`)
      head += `${name}: ${value}\r\n`
    }
    head += '\r\n'
    const signal = request.signal
    signal?.throwIfAborted()
    this.requests += 1
    this.#headerLength = 0
    this.#state = 'headers'
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { this.#fail(abortReason(signal)) }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#active = {
        describe,
        url: request.url,
        request,
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve() },
        reject: (err) => { signal?.removeEventListener('abort', onAbort); reject(err) },
        status: 0,
        errorBody: undefined,
        offset: 0,
        responded: false,
      }
      if (this.#socket.connecting) {
        this.#socket.setTimeout(Math.min(this.#options.connectTimeoutMs, timeoutMs))
        this.#socket.once('connect', () => { this.#socket.setTimeout(timeoutMs) })
      } else {
        this.#socket.setTimeout(timeoutMs)
      }
      this.#socket.write(head, 'latin1')
    })
  }

  /** Where the kernel puts the next bytes read: the target while a body arrives, else the header buffer. */
  #nextBuffer (): Uint8Array {
    const active = this.#active
    if (this.#state === 'body' && active !== undefined) return active.request.target.subarray(active.offset)
    if (this.#state === 'errorBody' && active?.errorBody !== undefined) return active.errorBody.subarray(active.offset)
    return this.#headerLength < HEADER_BYTES ? this.#header.subarray(this.#headerLength) : this.#header
  }

  #onRead (n: number): void {
    const active = this.#active
    if (active === undefined || this.#state === 'idle') {
      // Bytes nobody asked for: the connection can no longer be trusted.
      this.#keepAlive = false
      this.destroy()
      return
    }
    active.responded = true
    if (this.#state === 'body' || this.#state === 'errorBody') {
      active.offset += n
      this.#checkBodyDone(active)
      return
    }
    this.#headerLength += n
    const headerEnd = this.#header.subarray(0, this.#headerLength).indexOf(HEADER_END)
    if (headerEnd < 0) {
      if (this.#headerLength >= HEADER_BYTES) this.#fail(new DfError('DF_ERR_NETWORK', `${active.describe}: response headers too large`))
      return
    }
    const parsed = parseHead(this.#header.toString('latin1', 0, headerEnd))
    if (parsed === undefined) { this.#fail(new DfError('DF_ERR_NETWORK', `${active.describe}: malformed response`)); return }
    this.#keepAlive = parsed.keepAlive
    active.status = parsed.status
    const leftover = this.#header.subarray(headerEnd + 4, this.#headerLength)
    const remote = { url: redactUrl(active.url), method: 'GET', status: parsed.status }
    if (parsed.chunked || parsed.contentLength === undefined) {
      this.#fail(new DfError(active.request.foreignStatusCode ?? 'DF_ERR_NETWORK', `${active.describe}: HTTP ${parsed.status} without a Content-Length`, { remote }))
      return
    }
    if (parsed.status !== 206) {
      if (parsed.status >= 200 && parsed.status < 300) {
        this.#fail(new DfError(active.request.foreignStatusCode ?? 'DF_ERR_NETWORK', `${active.describe}: expected 206 for a range, got ${parsed.status}`, { remote }))
        return
      }
      if (parsed.contentLength > MAX_ERROR_BODY_BYTES) {
        this.#fail(new DfError(active.request.foreignStatusCode ?? 'DF_ERR_NETWORK', `${active.describe}: HTTP ${parsed.status}`, { remote, details: { status: parsed.status } }))
        return
      }
      active.errorBody = Buffer.allocUnsafe(parsed.contentLength)
      active.offset = leftover.copy(active.errorBody)
      this.#state = 'errorBody'
      this.#checkBodyDone(active)
      return
    }
    const target = active.request.target
    const range = parsed.contentRange
    if (parsed.contentLength !== target.length || range === undefined || range.start !== active.request.start || range.end !== active.request.start + target.length - 1) {
      this.#fail(new DfError('DF_ERR_NETWORK', `${active.describe}: the answer is not the range asked for`, { remote }))
      return
    }
    if (leftover.length > target.length) { this.#fail(new DfError('DF_ERR_NETWORK', `${active.describe}: more bytes than the range`, { remote })); return }
    active.offset = leftover.copy(target)
    this.#state = 'body'
    this.#checkBodyDone(active)
  }

  #checkBodyDone (active: Active): void {
    if (this.#state === 'body') {
      if (active.offset < active.request.target.length) return
      this.#finish()
      active.resolve()
      return
    }
    const body = active.errorBody
    if (body === undefined || active.offset < body.length) return
    this.#finish()
    const remote = { url: redactUrl(active.url), method: 'GET', status: active.status }
    let parsed: unknown
    try { parsed = JSON.parse(body.toString('utf8')) } catch { parsed = undefined }
    active.reject(fromWire(parsed, remote) ?? new DfError(active.request.foreignStatusCode ?? 'DF_ERR_NETWORK', `${active.describe}: HTTP ${active.status}`, { remote, details: { status: active.status } }))
  }

  #finish (): void {
    this.#active = undefined
    this.#state = 'idle'
    this.#headerLength = 0
    if (!this.#keepAlive) this.destroy()
  }

  #fail (err: Error): void {
    const active = this.#active
    this.#active = undefined
    this.#state = 'idle'
    this.#dead = true
    this.#socket.destroy()
    if (active === undefined) {
      this.#onIdleClose?.()
      this.#onIdleClose = undefined
      return
    }
    // Nothing came back on a kept-alive connection: the server had closed it.
    if (!active.responded && this.requests > 1 && err instanceof DfError && err.code === 'DF_ERR_NETWORK') active.reject(new StaleConnection(err))
    else active.reject(err)
  }
}

interface ParsedHead {
  readonly status: number
  readonly contentLength: number | undefined
  readonly contentRange: { start: number, end: number } | undefined
  readonly chunked: boolean
  readonly keepAlive: boolean
}

/** Status line and the few headers the reader needs. */
function parseHead (text: string): ParsedHead | undefined {
  const lines = text.split('\r\n')
  const status = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0] ?? '')
  if (status === null) return undefined
  let contentLength: number | undefined
  let contentRange: { start: number, end: number } | undefined
  let chunked = false
  let keepAlive = status[1] === '1'
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const colon = line.indexOf(':')
    if (colon <= 0) return undefined
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    if (name === 'content-length') {
      if (!/^\d+$/.test(value) || (contentLength !== undefined && contentLength !== Number(value))) return undefined
      contentLength = Number(value)
    } else if (name === 'content-range') {
      const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value)
      if (match !== null) contentRange = { start: Number(match[1]), end: Number(match[2]) }
    } else if (name === 'transfer-encoding') {
      chunked = true
    } else if (name === 'connection') {
      const tokens = value.toLowerCase().split(',').map((t) => t.trim())
      if (tokens.includes('close')) keepAlive = false
      else if (tokens.includes('keep-alive')) keepAlive = true
    }
  }
  return { status: Number(status[2]), contentLength, contentRange, chunked, keepAlive }
}

function abortReason (signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason
  return reason instanceof Error ? reason : new DfError('DF_ERR_INTERNAL', 'aborted')
}
