/**
 * `CONNECT host:port` on the forward proxy. By default the connection is tunnelled: bytes
 * are copied both ways and dfdaemon never sees inside. When "host:port" matches a hijack
 * rule, dfdaemon answers the TLS handshake itself with a certificate for that host signed by
 * the configured CA, and the decrypted requests enter the proxy's normal request handling
 * as `https://host:port/...` (so an HTTPS registry's blobs go through the swarm too). The
 * handler remembers which intercepted socket belongs to which origin.
 */
import type { IncomingMessage, Server } from 'node:http'
import { connect as netConnect, type Socket } from 'node:net'
import { TLSSocket } from 'node:tls'
import type { Duplex } from 'node:stream'
import { DfError, toWire } from '../protocol/errors.js'
import type { Logger } from '../common/log.js'
import type { CertificateAuthority } from './certificate-authority.js'
import type { ProxyMetrics } from './proxy-metrics.js'

export interface ConnectHandlerDeps {
  /** The CA issuing certificates for intercepted hosts; undefined: never intercept. */
  readonly ca: CertificateAuthority | undefined
  readonly metrics: ProxyMetrics
  readonly logger: Logger
}

export interface ConnectHandlerOptions {
  /** Patterns matched against "host:port"; a match means intercept. */
  readonly hijackPatterns: readonly RegExp[]
  /** Deadline to open a tunnel. Default 10 s. */
  readonly connectTimeoutMs?: number
}

/** Handles CONNECT requests of one proxy server. */
export class ConnectHandler {
  readonly #deps: ConnectHandlerDeps
  readonly #patterns: readonly RegExp[]
  readonly #connectTimeoutMs: number
  readonly #origins = new WeakMap<object, string>()
  readonly #open = new Set<Duplex>()

  constructor (deps: ConnectHandlerDeps, options: ConnectHandlerOptions) {
    this.#deps = deps
    this.#patterns = options.hijackPatterns
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000
  }

  /** The origin ("https://host:port") of an intercepted socket, or undefined. */
  originOf (socket: object): string | undefined {
    return this.#origins.get(socket)
  }

  /** Handles one CONNECT; `server` receives the decrypted connection when intercepting. */
  handle (server: Server, req: IncomingMessage, clientSocket: Duplex, head: Buffer): void {
    this.#track(clientSocket)
    clientSocket.on('error', () => { clientSocket.destroy() })
    const target = parseConnectTarget(req.url ?? '')
    if (target === undefined) {
      this.#refuse(clientSocket, 400, new DfError('DF_ERR_PROXY_BAD_REQUEST', 'CONNECT target must be host:port'))
      return
    }
    const hostPort = `${target.hostname}:${target.port}`
    if (this.#deps.ca !== undefined && this.#patterns.some((p) => p.test(hostPort))) {
      this.#intercept(server, clientSocket, head, target, this.#deps.ca)
    } else {
      this.#tunnel(clientSocket, head, target)
    }
  }

  /** Destroys every tunnel and intercepted connection. */
  close (): void {
    for (const socket of this.#open) socket.destroy()
    this.#open.clear()
  }

  #intercept (server: Server, clientSocket: Duplex, head: Buffer, target: ConnectTarget, ca: CertificateAuthority): void {
    this.#deps.metrics.countRequest('connect_hijack')
    const hostname = target.hostname.replace(/^\[|\]$/g, '')
    clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    if (head.length > 0) clientSocket.unshift(head)
    let context
    try {
      context = ca.secureContextFor(hostname)
    } catch (err) {
      this.#deps.logger.error({ err, host: hostname }, 'cannot issue a certificate')
      clientSocket.destroy()
      return
    }
    const tlsSocket = new TLSSocket(clientSocket as Socket, {
      isServer: true,
      secureContext: context,
      SNICallback: (servername, callback) => {
        try {
          callback(null, ca.secureContextFor(servername === '' ? hostname : servername))
        } catch (err) {
          callback(err as Error)
        }
      },
    })
    this.#track(tlsSocket)
    tlsSocket.on('error', (err: Error) => {
      this.#deps.logger.debug({ host: hostname, err: err.message }, 'intercepted TLS connection failed')
      tlsSocket.destroy()
    })
    this.#origins.set(tlsSocket, `https://${target.host}`)
    server.emit('connection', tlsSocket)
  }

  #tunnel (clientSocket: Duplex, head: Buffer, target: ConnectTarget): void {
    this.#deps.metrics.countRequest('connect_tunnel')
    const hostname = target.hostname.replace(/^\[|\]$/g, '')
    const upstream = netConnect({ host: hostname, port: Number(target.port), timeout: this.#connectTimeoutMs })
    this.#track(upstream)
    upstream.once('timeout', () => { upstream.destroy(new Error('connect timeout')) })
    upstream.once('connect', () => {
      upstream.setTimeout(0)
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      if (head.length > 0) upstream.write(head)
      upstream.pipe(clientSocket)
      clientSocket.pipe(upstream)
    })
    upstream.on('error', (err) => {
      if (upstream.connecting || !upstream.readable) {
        this.#deps.logger.warn({ host: target.host, err: (err as NodeJS.ErrnoException).code ?? err.message }, 'CONNECT tunnel failed')
      }
      if (!clientSocket.destroyed && (clientSocket as Socket).bytesWritten === 0) {
        this.#refuse(clientSocket, 502, new DfError('DF_ERR_PROXY_TUNNEL_FAILED', `cannot connect to ${target.host}`))
      } else {
        clientSocket.destroy()
      }
    })
    clientSocket.once('close', () => { upstream.destroy() })
    upstream.once('close', () => { clientSocket.destroy() })
  }

  #refuse (socket: Duplex, status: number, err: DfError): void {
    const body = JSON.stringify(toWire(err))
    const reason = status === 400 ? 'Bad Request' : 'Bad Gateway'
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  }

  #track (socket: Duplex): void {
    this.#open.add(socket)
    socket.once('close', () => { this.#open.delete(socket) })
  }
}

/** A CONNECT target: `hostname` as written (an IPv6 address in brackets), `host` = "hostname:port". */
export interface ConnectTarget {
  readonly hostname: string
  readonly port: string
  readonly host: string
}

/**
 * `host:port` of a CONNECT request line, or undefined when it is not one. Parsed by hand: the
 * URL API drops a scheme's default port (`host:80` would lose its port).
 */
export function parseConnectTarget (text: string): ConnectTarget | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(text)
  if (match === null) return undefined
  const hostname = match[1] ?? ''
  const port = match[2] ?? ''
  if (Number(port) < 1 || Number(port) > 65535) return undefined
  return { hostname, port: String(Number(port)), host: `${hostname}:${Number(port)}` }
}
