/**
 * PieceLoopRunner: the piece loop of one download, in the control protocol the client
 * speaks — v1 (P2pDownloader: pulls and per-piece reports) by default; v2
 * (ParentDownloader: parents, have feeds, CDN shares, a few syncs per download) when the
 * environment says `DAMSELFLY_CONTROL_PROTOCOL=v2`, falling back to v1 for pattern cdn and
 * against a supernode without the v2 routes (its first sync answers 404
 * DF_ERR_ARG_ROUTE_NOT_FOUND). v2 passes every scenario test, but it is opt-in until it is as
 * fast as v1 in the swarm lab: at N=8, 100 Mbit/s, 128 MiB its last host came in at 1.4-1.5x
 * the bound against v1's 1.24x in the same minutes, with 30 % more host CPU per GiB
 * (docs/protocol.md; 2.0-2.4x and 60 % before issue 17).
 * The file pipeline and stream mode both run their download through it.
 */
import type { Clock } from '../../common/clock.js'
import type { Logger } from '../../common/log.js'
import { isCode } from '../../protocol/errors.js'
import type { RegisterPeerRequest } from '../../protocol/messages/register-peer.js'
import type { RegisterTaskRequest } from '../../protocol/messages/register-task.js'
import type { SupernodeLocator, SupernodeRegistration } from '../supernode-locator.js'
import { createHttpParentPort } from '../uploader/peer-client.js'
import type { DataPlane } from '../data-plane.js'
import { P2pDownloader } from './p2p-downloader.js'
import { ParentDownloader } from './parent-downloader.js'
import type { PieceFetchPort, PieceLoopOutcome } from './piece-loop.js'
import { SupernodeControl } from './supernode-control.js'
import type { TargetWriter } from './target-writer.js'
import type { TransferStats } from './transfer-stats.js'

/** A control protocol version. */
export type ControlProtocol = 'v1' | 'v2'

/** The environment variable that makes new downloads speak v2 (`DAMSELFLY_CONTROL_PROTOCOL=v2`). */
export const CONTROL_PROTOCOL_ENV = 'DAMSELFLY_CONTROL_PROTOCOL'

/** The protocol new downloads speak: v1 unless the environment says v2. */
export function resolveControlProtocol (env: NodeJS.ProcessEnv = process.env): ControlProtocol {
  return env[CONTROL_PROTOCOL_ENV] === 'v2' ? 'v2' : 'v1'
}

export interface PieceLoopRunnerDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly locator: Pick<SupernodeLocator, 'register'>
  readonly writer: Pick<TargetWriter, 'isComplete' | 'pieceCount' | 'verifiedCount' | 'isVerified' | 'rangeOf' | 'verifiedPieces' | 'geometry'>
  /** Stream mode: the window's room and its first piece. */
  readonly window?: { freeSlots(): number, whenFreed(): Promise<void>, readonly una: number }
  readonly fetcher: PieceFetchPort
  readonly stats: TransferStats
  /** The have feeds of the parents (v2) go through its HTTP client. */
  readonly plane: Pick<DataPlane, 'http'>
  /** Sent with every have request (the shared token). */
  readonly headers?: Readonly<Record<string, string>>
  /** Called when another supernode took the task over. */
  readonly onSupernodeChange?: (registration: SupernodeRegistration) => void
  /** A piece was verified and written (v2: announce it to this host's peer server). */
  readonly onPieceVerified?: (pieceNum: number) => void
}

export interface PieceLoopRunnerOptions {
  readonly registration: SupernodeRegistration
  readonly taskKey: string
  readonly peerRequest: RegisterPeerRequest
  readonly taskRequest: RegisterTaskRequest
  readonly stallTimeoutMs?: number
  /** Stream mode: the window in pieces. */
  readonly windowPieces?: number
  /** Default: resolveControlProtocol(). */
  readonly protocol?: ControlProtocol
}

export class PieceLoopRunner {
  readonly #deps: PieceLoopRunnerDeps
  readonly #options: PieceLoopRunnerOptions
  readonly #control: SupernodeControl

  constructor (deps: PieceLoopRunnerDeps, options: PieceLoopRunnerOptions) {
    this.#deps = deps
    this.#options = options
    this.#control = new SupernodeControl({ locator: deps.locator, logger: deps.logger, onSupernodeChange: deps.onSupernodeChange }, options)
  }

  /** The supernode in charge now. */
  get registration (): SupernodeRegistration {
    return this.#control.registration
  }

  /** The peer registration to repeat on failover, once it changed (the peer server's port became known). */
  setPeerRequest (peerRequest: RegisterPeerRequest): void {
    this.#control.setPeerRequest(peerRequest)
  }

  /** Runs the loop. @throws DfError on fatal failures (write, abort) */
  async run (signal: AbortSignal): Promise<PieceLoopOutcome> {
    const deps = this.#deps
    const options = this.#options
    const protocol = options.protocol ?? resolveControlProtocol()
    if (protocol === 'v2') {
      const loop = new ParentDownloader({
        logger: deps.logger,
        clock: deps.clock,
        control: this.#control,
        parents: createHttpParentPort(deps.plane.http, deps.headers),
        fetcher: deps.fetcher,
        writer: deps.writer,
        ...(deps.window === undefined ? {} : { window: deps.window }),
        stats: deps.stats,
        ...(deps.onPieceVerified === undefined ? {} : { onPieceVerified: deps.onPieceVerified }),
      }, {
        cid: options.taskRequest.cid,
        pieceCount: deps.writer.pieceCount,
        windowPieces: options.windowPieces,
        ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }),
      })
      try {
        return await loop.run(signal)
      } catch (err) {
        if (!isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND')) throw err
        deps.logger.info({ url: this.#control.registration.address.baseUrl }, 'the supernode does not speak control protocol v2: using v1')
      }
    }
    return await new P2pDownloader({
      logger: deps.logger,
      clock: deps.clock,
      control: this.#control,
      writer: deps.writer,
      ...(deps.window === undefined ? {} : { window: deps.window }),
      fetcher: deps.fetcher,
      stats: deps.stats,
    }, {
      cid: options.taskRequest.cid,
      ...(options.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: options.stallTimeoutMs }),
    }).run(signal)
  }
}
