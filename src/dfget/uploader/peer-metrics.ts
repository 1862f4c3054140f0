/**
 * The peer server's Prometheus metrics (`GET /metrics` on the peer server), one registry
 * per server: piece bytes uploaded to other peers, uploads in flight and done, piece
 * requests refused for their grant, the files served, and the files expired by `--expiretime`. Names follow the supernode's
 * (`dragonfly_` namespace, subsystem `peer_server`). Uploads are counted from the HTTP
 * exchange itself (an onRequest hook on the piece-data route), so the serving code needs
 * no counting of its own.
 */
import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Registry } from 'prom-client'
import { PEER_PATHS } from '../../protocol/paths.js'
import type { GrantRefusalReason } from '../../protocol/piece-grant.js'

export interface PeerMetricsDeps {
  /** Data files registered for serving. */
  readonly countServedFiles: () => number
  /** Bytes of those files. */
  readonly sumServedBytes: () => number
}

export class PeerMetrics {
  readonly registry = new Registry()
  readonly #uploadBytes: Counter
  readonly #uploads: Counter<'result'>
  readonly #inFlight: Gauge
  readonly #expiredFiles: Counter
  readonly #expiredBytes: Counter
  readonly #grantRefusals: Counter<'reason'>

  constructor (deps: PeerMetricsDeps) {
    const registers = [this.registry]
    this.#uploadBytes = new Counter({ name: 'dragonfly_peer_server_upload_size_bytes_total', help: 'Piece bytes sent to other peers.', registers })
    this.#uploads = new Counter({ name: 'dragonfly_peer_server_uploads_total', help: 'Piece requests answered, by result (success: every byte sent; failed: refused or cut short).', labelNames: ['result'], registers })
    this.#inFlight = new Gauge({ name: 'dragonfly_peer_server_uploads_in_flight', help: 'Piece requests being answered right now.', registers })
    this.#expiredFiles = new Counter({ name: 'dragonfly_peer_server_expired_files_total', help: 'Served files deleted after --expiretime without use.', registers })
    this.#expiredBytes = new Counter({ name: 'dragonfly_peer_server_expired_size_bytes_total', help: 'Bytes of the served files deleted after --expiretime.', registers })
    this.#grantRefusals = new Counter({ name: 'dragonfly_peer_server_piece_grant_refusals_total', help: 'Piece requests refused for their grant, by reason (missing, expired, wrong_task, bad_signature, malformed).', labelNames: ['reason'], registers })
    new Gauge({ name: 'dragonfly_peer_server_served_files', help: 'Data files this host serves to other peers.', registers, collect () { this.set(deps.countServedFiles()) } })
    new Gauge({ name: 'dragonfly_peer_server_served_size_bytes', help: 'Bytes of the data files this host serves.', registers, collect () { this.set(deps.sumServedBytes()) } })
  }

  /** Adds `GET /metrics` and the counting hook to the peer server's app (before it listens). */
  attach (app: FastifyInstance): void {
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.url !== PEER_PATHS.taskData) return
      this.#inFlight.inc()
      reply.raw.once('close', () => {
        this.#inFlight.dec()
        const lengthBytes = Number(reply.raw.getHeader('content-length') ?? 0)
        const isSuccess = reply.raw.writableFinished && reply.raw.statusCode === 206
        this.#uploads.inc({ result: isSuccess ? 'success' : 'failed' })
        if (isSuccess) this.#uploadBytes.inc(lengthBytes)
      })
    })
    app.get(PEER_PATHS.metrics, async (_request, reply) => await reply.type(this.registry.contentType).send(await this.registry.metrics()))
  }

  /** Records a piece request refused for its grant. */
  countGrantRefusal (reason: GrantRefusalReason): void {
    this.#grantRefusals.inc({ reason })
  }

  /** Records served files deleted by `--expiretime`. */
  countExpired (files: readonly { readonly fileLengthBytes: number }[]): void {
    for (const file of files) {
      this.#expiredFiles.inc()
      this.#expiredBytes.inc(file.fileLengthBytes)
    }
  }
}
