/**
 * PeerManager: the peers (one peer server per host) known to this supernode — where other
 * clients reach them and how much they uploaded. A peer is live from registration until it
 * says service down (DELETE); then the progress manager drops its holdings and hand-outs,
 * so nobody is sent to it any more.
 */
import { isIP } from 'node:net'
import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import { DfError, invalidArgument } from '../../protocol/errors.js'
import { parsePeerId, type PeerId } from '../../protocol/ids.js'
import type { PeerInfo, RegisterPeerRequest } from '../../protocol/messages/register-peer.js'
import type { ProgressManager } from '../progress/progress-manager.js'

/** A registered peer, read-only. */
export interface PeerRecordView {
  readonly peerId: PeerId
  /** Address other peers reach its peer server at. */
  readonly ip: string
  /** 0 while its peer server is not up yet: it downloads, but serves nothing. */
  readonly port: number
  readonly hostName: string
  readonly registeredAtMs: number
  readonly uploadedBytes: number
}

interface PeerRecord {
  peerId: PeerId
  ip: string
  port: number
  hostName: string
  registeredAtMs: number
  uploadedBytes: number
}

export class PeerManager {
  readonly #clock: Clock
  readonly #log: Logger
  readonly #progress: Pick<ProgressManager, 'removePeer' | 'uploadsInFlightOf'>
  readonly #peers = new Map<PeerId, PeerRecord>()

  constructor (deps: { clock: Clock, logger: Logger, progress: Pick<ProgressManager, 'removePeer' | 'uploadsInFlightOf'> }) {
    this.#clock = deps.clock
    this.#log = deps.logger
    this.#progress = deps.progress
  }

  /** Number of live peers. */
  get count (): number {
    return this.#peers.size
  }

  /**
   * Registers a peer, or updates its address when it registers again. Without `ip` the
   * address the request came from is used; without `peerId` one is derived from address
   * and port (one peer server per address and port). @throws DF_ERR_ARG_INVALID
   */
  register (request: RegisterPeerRequest, remoteIp: string): PeerInfo {
    const ip = normalizeIp(request.ip ?? remoteIp)
    if (isIP(ip) === 0 && !/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(ip)) throw invalidArgument('body.ip', 'must be an IP address or a host name')
    if (request.peerId === undefined && request.port === undefined) throw invalidArgument('body.peerId', 'is required when port is absent (a peer server still starting)')
    const peerId = request.peerId === undefined ? derivePeerId(ip, request.port ?? 0) : parsePeerId(request.peerId, 'body.peerId')
    const existing = this.#peers.get(peerId)
    const record: PeerRecord = {
      peerId,
      ip,
      // A registration without a port (a dfget whose peer server is starting) keeps the port known.
      port: request.port ?? existing?.port ?? 0,
      hostName: request.hostName ?? existing?.hostName ?? ip,
      registeredAtMs: existing?.registeredAtMs ?? this.#clock.now(),
      uploadedBytes: existing?.uploadedBytes ?? 0,
    }
    this.#peers.set(peerId, record)
    this.#log.info({ peerId, ip, port: record.port }, existing === undefined ? 'peer registered' : 'peer registered again')
    return this.#info(record)
  }

  getPeer (peerId: PeerId): PeerRecordView | undefined {
    return this.#peers.get(peerId)
  }

  isLive (peerId: PeerId): boolean {
    return this.#peers.has(peerId)
  }

  /** Live and reachable: its peer server is up (a port is known), so others may be sent to it. */
  isServing (peerId: PeerId): boolean {
    return (this.#peers.get(peerId)?.port ?? 0) > 0
  }

  /** @throws DF_ERR_PEER_NOT_FOUND */
  describe (peerId: PeerId): PeerInfo {
    return this.#info(this.#mustGet(peerId))
  }

  list (): PeerInfo[] {
    return [...this.#peers.values()].map((record) => this.#info(record))
  }

  /** Service down: forgets the peer; nobody is sent to it any more. @throws DF_ERR_PEER_NOT_FOUND */
  remove (peerId: PeerId): void {
    this.#mustGet(peerId)
    this.#peers.delete(peerId)
    this.#progress.removePeer(peerId)
    this.#log.info({ peerId }, 'peer left (service down)')
  }

  /** Counts piece bytes another client reported fetched from this peer. */
  addUploadedBytes (peerId: PeerId, bytes: number): void {
    const record = this.#peers.get(peerId)
    if (record !== undefined) record.uploadedBytes += bytes
  }

  #mustGet (peerId: PeerId): PeerRecord {
    const record = this.#peers.get(peerId)
    if (record === undefined) throw new DfError('DF_ERR_PEER_NOT_FOUND', `no peer ${peerId}`, { details: { peerId } })
    return record
  }

  #info (record: PeerRecord): PeerInfo {
    return {
      peerId: record.peerId,
      ip: record.ip,
      port: record.port,
      hostName: record.hostName,
      registeredAt: new Date(record.registeredAtMs).toISOString(),
      uploadsInFlight: this.#progress.uploadsInFlightOf(record.peerId),
      uploadedBytes: record.uploadedBytes,
    }
  }
}

/** "::ffff:10.0.0.1" → "10.0.0.1"; other addresses unchanged. */
export function normalizeIp (ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip
}

function derivePeerId (ip: string, port: number): PeerId {
  return parsePeerId(`peer-${ip.replace(/[^A-Za-z0-9.-]/g, '-')}-${port}`)
}
