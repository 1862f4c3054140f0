/**
 * One simulated host of the fleet: its dfget's work as dfget.ts does it — register the
 * peer and the task with the supernode, then run the real piece loop (P2pDownloader) —
 * with two adapters in place of the byte path: SimulatedTarget (which pieces are verified;
 * no file) and SimulatedPieceFetcher (a piece is a flow from its source host to this one
 * on the FlowNetwork; verification compares the digest the supernode gave with the
 * simulated one). A host serves what it holds from the moment a piece is verified, as the
 * agent does; a failed host stops serving and stops its download. A download the loop
 * gives up on goes back to the source (a flow of the missing bytes from the origin).
 *
 * Control protocol v2 (the default): the real ParentDownloader in place of P2pDownloader,
 * with the real SupernodeControl for its syncs, and each host's have feed the real
 * PieceAvailability of its peer server (its coalescing of 200 ms for a file): a child's
 * have request (SimulatedParentPort) goes to the parent's host after the network's
 * latency each way, waits there as the route does, and is counted apart from the
 * supernode's requests. A verified piece is announced to the host's own feed at once (the
 * real announcement is a loopback request). Have answers and requests move no modelled
 * bytes (a bitmap of a 1 GiB file is 32 bytes).
 */
import { P2pDownloader } from '../../../src/dfget/downloader/p2p-downloader.js'
import { ParentDownloader } from '../../../src/dfget/downloader/parent-downloader.js'
import type { ParentPort, PieceLoopOutcome } from '../../../src/dfget/downloader/piece-loop.js'
import type { ControlProtocol } from '../../../src/dfget/downloader/piece-loop-runner.js'
import { PieceAvailability } from '../../../src/dfget/uploader/piece-availability.js'
import { FILE_HAVES_COALESCE_MS, FILE_HAVES_PIECES_PER_ANSWER, HAVES_COALESCE_MS } from '../../../src/dfget/uploader/peer-server.js'
import type { PeerHavesResponse } from '../../../src/protocol/messages/peer-haves.js'
import type { Parent } from '../../../src/protocol/messages/sync-task.js'
import { createSeededRandom } from '../../../src/supernode/scheduler/random.js'
import { SupernodeControl } from '../../../src/dfget/downloader/supernode-control.js'
import type { FetchedPiece, PieceFetcher } from '../../../src/dfget/downloader/piece-fetcher.js'
import type { FileGeometry, TargetWriter } from '../../../src/dfget/downloader/target-writer.js'
import { TransferStats } from '../../../src/dfget/downloader/transfer-stats.js'
import type { SupernodeLocator, SupernodeRegistration } from '../../../src/dfget/supernode-locator.js'
import type { ManualClock } from '../../../src/common/clock.js'
import type { Logger } from '../../../src/common/log.js'
import { DfError } from '../../../src/protocol/errors.js'
import type { PieceTask } from '../../../src/protocol/messages/pull-piece-task.js'
import { parsePieceRange, pieceCount, rangeLength, rangeOfPiece, type ByteRange } from '../../../src/protocol/piece-range.js'
import type { FlowNetwork } from './flow-network.js'
import type { InProcessSupernode } from './in-process-supernode.js'
import { simulatedDigest } from './simulated-cdn.js'

/** Which pieces a host holds, verified (the slice of TargetWriter the piece loop reads). */
export class SimulatedTarget implements Pick<TargetWriter, 'isComplete' | 'pieceCount' | 'verifiedCount' | 'isVerified' | 'rangeOf' | 'verifiedPieces' | 'geometry'> {
  readonly geometry: FileGeometry
  readonly pieceCount: number
  readonly #verified: Uint8Array
  #verifiedCount = 0

  constructor (geometry: FileGeometry) {
    this.geometry = geometry
    this.pieceCount = pieceCount(geometry.fileLengthBytes, geometry.pieceSizeBytes)
    this.#verified = new Uint8Array(this.pieceCount)
  }

  get verifiedCount (): number { return this.#verifiedCount }
  get isComplete (): boolean { return this.#verifiedCount === this.pieceCount }
  isVerified (pieceNum: number): boolean { return this.#verified[pieceNum] === 1 }

  verifiedPieces (): number[] {
    const held: number[] = []
    for (let i = 0; i < this.pieceCount; i++) if (this.#verified[i] === 1) held.push(i)
    return held
  }

  rangeOf (pieceNum: number): ByteRange {
    return rangeOfPiece(pieceNum, this.geometry.pieceSizeBytes, this.geometry.fileLengthBytes)
  }

  markVerified (pieceNum: number): void {
    if (this.#verified[pieceNum] === 1) return
    this.#verified[pieceNum] = 1
    this.#verifiedCount++
  }

  /** Bytes still missing. */
  get missingBytes (): number {
    let bytes = 0
    for (let i = 0; i < this.pieceCount; i++) if (this.#verified[i] !== 1) bytes += rangeLength(this.rangeOf(i))
    return bytes
  }
}

/** Where a piece task's source is: the supernode's host, or the host of a peer id. */
export interface SourceDirectory {
  readonly supernodeHost: number
  hostOfPeer(peerId: string): SimulatedHost | undefined
}

/** PieceFetcher's work on the flow network (see the module header). */
export class SimulatedPieceFetcher implements Pick<PieceFetcher, 'fetch'> {
  readonly #network: FlowNetwork
  readonly #clock: ManualClock
  readonly #directory: SourceDirectory
  readonly #host: number
  readonly #target: SimulatedTarget

  constructor (deps: { network: FlowNetwork, clock: ManualClock, directory: SourceDirectory }, host: number, target: SimulatedTarget) {
    this.#network = deps.network
    this.#clock = deps.clock
    this.#directory = deps.directory
    this.#host = host
    this.#target = target
  }

  async fetch (piece: PieceTask, signal: AbortSignal): Promise<FetchedPiece> {
    const startedMs = this.#clock.now()
    const range = parsePieceRange(piece.pieceRange)
    const expected = this.#target.rangeOf(piece.pieceNum)
    if (expected.start !== range.start || expected.end !== range.end) {
      throw new DfError('DF_ERR_PIECE_RANGE_INVALID', `piece ${piece.pieceNum} has range ${piece.pieceRange}, expected ${expected.start}-${expected.end}`)
    }
    const fromSupernode = piece.sourceKind === 'supernode'
    let sourceHost = this.#directory.supernodeHost
    if (!fromSupernode) {
      const peer = this.#directory.hostOfPeer(piece.sourcePeerId)
      if (peer === undefined) throw new DfError('DF_ERR_NETWORK', `no simulated host for peer ${piece.sourcePeerId}`)
      // A peer server serves only pieces it holds (the agent's piece store).
      if (!peer.target.isVerified(piece.pieceNum) && !this.#network.isFailed(peer.host)) throw new DfError('DF_ERR_PIECE_NOT_AVAILABLE', `peer ${piece.sourcePeerId} does not hold piece ${piece.pieceNum}`)
      sourceHost = peer.host
    }
    const bytes = rangeLength(range)
    await this.#network.transfer(sourceHost, this.#host, bytes, signal)
    if (piece.digest !== simulatedDigest(piece.pieceNum)) {
      throw new DfError('DF_ERR_PIECE_DIGEST_MISMATCH', `piece ${piece.pieceNum} from ${piece.sourcePeerId} does not match its digest`, { details: { pieceNum: piece.pieceNum, sourcePeerId: piece.sourcePeerId } })
    }
    this.#target.markVerified(piece.pieceNum)
    return { bytes, costMs: this.#clock.now() - startedMs, fromSupernode }
  }
}

/** A parent's have feed over the flow network (see the module header): `onRequest` counts the child's have requests. */
export class SimulatedParentPort implements ParentPort {
  readonly #network: FlowNetwork
  readonly #directory: SourceDirectory
  readonly #host: number
  readonly #taskId: string
  readonly #onRequest: () => void

  constructor (deps: { network: FlowNetwork, directory: SourceDirectory }, host: number, taskId: string, onRequest: () => void) {
    this.#network = deps.network
    this.#directory = deps.directory
    this.#host = host
    this.#taskId = taskId
    this.#onRequest = onRequest
  }

  async fetchHaves (parent: Parent, since: number, waitMs: number, _grant: string | undefined, signal: AbortSignal): Promise<PeerHavesResponse> {
    const peer = this.#directory.hostOfPeer(parent.peerId)
    if (peer === undefined) throw new DfError('DF_ERR_NETWORK', `no simulated host for peer ${parent.peerId}`)
    this.#onRequest()
    const tripMs = this.#network.latencyOf(this.#host) + this.#network.latencyOf(peer.host)
    await this.#network.delay(tripMs, signal)
    if (this.#network.isFailed(peer.host)) throw new DfError('DF_ERR_NETWORK', 'simulated host is down')
    const answer = await peer.availability.waitForChange(this.#taskId, parent.cid, since, waitMs, signal)
    signal.throwIfAborted()
    if (answer === undefined) throw new DfError('DF_ERR_UPLOAD_TASK_NOT_FOUND', 'this peer does not serve that task for that cid (any more)')
    await this.#network.delay(tripMs, signal)
    return answer
  }
}

export interface SimulatedHostDeps {
  readonly network: FlowNetwork
  readonly clock: ManualClock
  readonly logger: Logger
  readonly directory: SourceDirectory
  readonly supernode: Pick<InProcessSupernode, 'clientFor'>
  readonly originHost: number
}

export interface SimulatedHostOptions {
  readonly index: number
  /** Network index of this host. */
  readonly host: number
  readonly taskUrl: string
  /** Simulated time at which the host starts its download (joins). */
  readonly startAtMs: number
  readonly stallTimeoutMs: number
  /** The control protocol its dfget speaks. */
  readonly protocol: ControlProtocol
  /** Seeds the v2 loop's random choices. */
  readonly seed: number
  /** v2: how long the have feed holds back a file's changes (default the peer server's). */
  readonly fileHavesCoalesceMs?: number
}

/** How a host's download ended. */
export type HostOutcome = 'complete' | 'backSource' | 'failed'

export class SimulatedHost {
  readonly host: number
  readonly peerId: string
  readonly stats = new TransferStats()
  target: SimulatedTarget = new SimulatedTarget({ fileLengthBytes: 0, pieceSizeBytes: 1 })
  requests = 0
  /** v2: have requests to its parents (host to host, not the supernode's). */
  haveRequests = 0
  /** v2: the have feed of this host's peer server. */
  readonly availability: PieceAvailability
  completedAtMs: number | undefined
  outcome: HostOutcome | undefined
  /** Where its download is (a run stopped early says how many hosts were where). */
  phase: 'joining' | 'registering' | 'piece loop' | 'back-source' | 'done' = 'joining'
  readonly #deps: SimulatedHostDeps
  readonly #options: SimulatedHostOptions
  readonly #controller = new AbortController()

  constructor (deps: SimulatedHostDeps, options: SimulatedHostOptions) {
    this.#deps = deps
    this.#options = options
    this.host = options.host
    this.peerId = `sim-host-${options.index}`
    this.availability = new PieceAvailability({ clock: deps.clock }, { coalesceMs: HAVES_COALESCE_MS, fileCoalesceMs: options.fileHavesCoalesceMs ?? FILE_HAVES_COALESCE_MS, filePiecesPerAnswer: FILE_HAVES_PIECES_PER_ANSWER })
  }

  /** The host goes down: it stops serving, and a download still running stops (outcome 'failed'). */
  fail (): void {
    if (this.#deps.network.isFailed(this.host)) return
    this.#deps.network.failHost(this.host)
    // Its peer server is gone: the children waiting on its have feed get no bitmap.
    this.availability.closeAll()
    if (this.outcome !== undefined) return
    this.outcome = 'failed'
    this.#controller.abort(new DfError('DF_ERR_NETWORK', 'simulated host failed'))
  }

  /** Runs the host's download: start delay, registration, the piece loop, back-source if it must. */
  async run (): Promise<void> {
    const { network, clock, logger } = this.#deps
    const signal = this.#controller.signal
    const client = this.#deps.supernode.clientFor(this.host, () => { this.requests++ })
    try {
      await network.delay(this.#options.startAtMs - clock.now(), signal)
      this.phase = 'registering'
      const peerRequest = { peerId: this.peerId, ip: `sim-${this.#options.index}.fleet`, port: 65_000, hostName: this.peerId }
      const cid = `sim-cid-${this.#options.index}`
      const taskRequest = { peerId: this.peerId, cid, url: this.#options.taskUrl }
      await client.registerPeer(peerRequest)
      const task = await client.registerTask(taskRequest, signal)
      this.target = new SimulatedTarget({ fileLengthBytes: task.fileLengthBytes, pieceSizeBytes: task.pieceSizeBytes })
      const registration: SupernodeRegistration = { address: { host: 'supernode.sim', port: 8002, weight: 1, baseUrl: 'http://supernode.sim:8002' }, client, task }
      // One supernode: "the next one" after a failure is the same one again, unless it is to be skipped.
      const locator: Pick<SupernodeLocator, 'register'> = {
        register: async (_key, peer, request, options = {}) => {
          if (options.skip?.has(registration.address.baseUrl) === true) throw new DfError('DF_ERR_NETWORK', 'no other supernode')
          await client.registerPeer(peer)
          return { ...registration, task: await client.registerTask(request, options.signal) }
        },
      }
      const fetcher = new SimulatedPieceFetcher({ network, clock, directory: this.#deps.directory }, this.host, this.target)
      const control = new SupernodeControl({ locator, logger }, { registration, taskKey: task.taskId, peerRequest, taskRequest })
      let outcome: PieceLoopOutcome
      this.phase = 'piece loop'
      if (this.#options.protocol === 'v2') {
        // As dfget does: the file is registered with this host's peer server, which serves each piece once verified.
        this.availability.open(task.taskId, cid, this.target.pieceCount, 'file')
        const parents = new SimulatedParentPort({ network, directory: this.#deps.directory }, this.host, task.taskId, () => { this.haveRequests++ })
        outcome = await new ParentDownloader({
          logger, clock, control, parents, fetcher, writer: this.target, stats: this.stats,
          random: createSeededRandom(this.#options.seed),
          onPieceVerified: (pieceNum) => { this.availability.add(task.taskId, cid, [pieceNum]) },
        }, { cid, pieceCount: this.target.pieceCount, stallTimeoutMs: this.#options.stallTimeoutMs }).run(signal)
      } else {
        outcome = await new P2pDownloader({ logger, clock, control, writer: this.target, fetcher, stats: this.stats }, {
          cid: taskRequest.cid, stallTimeoutMs: this.#options.stallTimeoutMs,
        }).run(signal)
      }
      if (outcome.kind !== 'complete') {
        this.phase = 'back-source'
        const missing = this.target.missingBytes
        await network.transfer(this.#deps.originHost, this.host, missing, signal)
        this.stats.addFromSource(missing)
        for (let i = 0; i < this.target.pieceCount; i++) this.target.markVerified(i)
        this.availability.add(task.taskId, cid, this.target.verifiedPieces())
        this.outcome = 'backSource'
      } else {
        this.outcome = 'complete'
      }
      this.completedAtMs = clock.now()
      this.phase = 'done'
    } catch (err) {
      if (this.outcome === 'failed') return
      throw err
    }
  }
}
