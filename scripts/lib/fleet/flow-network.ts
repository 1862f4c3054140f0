/**
 * The fleet simulator's network: hosts with an upload and a download capacity and a
 * one-way latency to the core, and transfers between them modelled as flows (no bytes
 * move). Event-driven on the simulation's clock: a flow's rate changes only when a flow
 * starts or ends at one of its two hosts, and its completion is a clock timer.
 *
 * Bandwidth sharing: every flow gets min(uploader capacity / its upload flows, downloader
 * capacity / its download flows) — each host shares its capacity equally among its flows,
 * and a flow runs at the tighter of its two shares. That is max-min fairness exactly when
 * one side of every flow is the bottleneck (the swarm lab: shaped uploads, unshaped
 * downloads), and a slight underestimate of throughput otherwise (a share left unused by a
 * flow held back at its other end is not handed to the others). Recomputing only the flows
 * of the two hosts whose flow count changed keeps each event O(flows of those hosts), so a
 * fleet of 50,000 hosts runs in minutes.
 *
 * A machine's CPU (optional, for the swarm lab only): all the lab's emulated hosts share
 * one machine's cores, and every byte delivered costs CPU (hashing, copying). With
 * `sharedCpuBytesPerMs` the flows' rates (as the links allow them) are also cut to a common
 * level where they exceed that capacity together (water-filling: max-min fair over the
 * machine), so a lab that is CPU-bound is slowed as it is. A real fleet has a CPU per host:
 * leave it out.
 *
 * A transfer costs one round trip (request to the uploader, first byte back) before its
 * bytes flow. Completion times are rounded up to `tickMs`, so that flows ending close
 * together end in one simulation step; but not those of a stream (`noRoundTrip`: the CDN's
 * read of the origin), whose pieces follow each other: rounded, a 1 GiB read at 10 Gbit/s
 * in 256 pieces of 3.5 ms each took 1.02 s instead of 0.90 s.
 */
import type { ManualClock, TimerHandle } from '../../../src/common/clock.js'
import { DfError } from '../../../src/protocol/errors.js'

/** A simulated host's link. */
export interface LinkSpec {
  /** Upload capacity in bytes per millisecond of payload (Infinity: unlimited). */
  readonly upBytesPerMs: number
  /** Download capacity in bytes per millisecond of payload (Infinity: unlimited). */
  readonly downBytesPerMs: number
  /** One-way latency between the host and the network core. */
  readonly latencyMs: number
}

interface NetHost {
  readonly link: LinkSpec
  readonly up: Set<Flow>
  readonly down: Set<Flow>
  failed: boolean
  uploadedBytes: number
  /** When its last completed upload ended. */
  lastUploadEndMs: number | undefined
}

interface Flow {
  readonly src: NetHost
  readonly dst: NetHost
  readonly bytes: number
  /** A stream's piece: its end is not rounded to the tick. */
  readonly exact: boolean
  remaining: number
  rateBytesPerMs: number
  updatedAtMs: number
  timer: TimerHandle | undefined
  finish: (err?: Error) => void
}

export class FlowNetwork {
  readonly #clock: ManualClock
  readonly #tickMs: number
  readonly #hosts: NetHost[] = []
  #flowsStarted = 0
  #activeFlows = 0
  #peakFlows = 0

  readonly #sharedCpuBytesPerMs: number
  readonly #flows = new Set<Flow>()

  constructor (deps: { clock: ManualClock }, options: { tickMs: number, sharedCpuBytesPerMs?: number }) {
    if (!(options.tickMs > 0)) throw new RangeError('tickMs must be > 0')
    this.#clock = deps.clock
    this.#tickMs = options.tickMs
    this.#sharedCpuBytesPerMs = options.sharedCpuBytesPerMs ?? Number.POSITIVE_INFINITY
  }

  /** Adds a host; returns its index. */
  addHost (link: LinkSpec): number {
    this.#hosts.push({ link, up: new Set(), down: new Set(), failed: false, uploadedBytes: 0, lastUploadEndMs: undefined })
    return this.#hosts.length - 1
  }

  /** Payload bytes a host has sent so far (completed flows). */
  uploadedBytesOf (host: number): number {
    return this.#mustGet(host).uploadedBytes
  }

  /** The simulation's time. */
  now (): number {
    return this.#clock.now()
  }

  /** When the host's last completed upload ended (undefined before any). */
  lastUploadEndOf (host: number): number | undefined {
    return this.#mustGet(host).lastUploadEndMs
  }

  latencyOf (host: number): number {
    return this.#mustGet(host).link.latencyMs
  }

  isFailed (host: number): boolean {
    return this.#mustGet(host).failed
  }

  get flowsStarted (): number { return this.#flowsStarted }
  get peakFlows (): number { return this.#peakFlows }

  /**
   * Moves `bytes` from `src` to `dst`: resolves when the last byte arrived. Rejects with
   * DF_ERR_NETWORK when either host fails (or has failed), and with the signal's reason
   * when it aborts. `noRoundTrip`: the bytes follow a request already answered (a stream
   * that goes on), so they flow at once, and their end is not rounded to the tick.
   */
  async transfer (src: number, dst: number, bytes: number, signal?: AbortSignal, options: { noRoundTrip?: boolean } = {}): Promise<void> {
    const from = this.#mustGet(src)
    const to = this.#mustGet(dst)
    if (options.noRoundTrip !== true) await this.delay(2 * (from.link.latencyMs + to.link.latencyMs), signal)
    if (from.failed || to.failed) throw new DfError('DF_ERR_NETWORK', 'simulated host is down')
    if (bytes <= 0) return
    await new Promise<void>((resolve, reject) => {
      const flow: Flow = {
        src: from,
        dst: to,
        bytes,
        exact: options.noRoundTrip === true,
        remaining: bytes,
        rateBytesPerMs: 0,
        updatedAtMs: this.#clock.now(),
        timer: undefined,
        finish: (err) => {
          signal?.removeEventListener('abort', onAbort)
          if (err === undefined) resolve()
          else reject(err)
        },
      }
      const onAbort = (): void => { this.#end(flow, abortReason(signal)) }
      if (signal?.aborted === true) { reject(abortReason(signal)); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      from.up.add(flow)
      to.down.add(flow)
      if (this.#isCpuShared) this.#flows.add(flow)
      this.#flowsStarted++
      this.#activeFlows++
      this.#peakFlows = Math.max(this.#peakFlows, this.#activeFlows)
      this.#reshare(from, to)
    })
  }

  /** Waits `ms` of simulated time (0: resolves at once). */
  async delay (ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0) return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { timer.cancel(); reject(abortReason(signal)) }
      const timer = this.#clock.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** The host stops: its flows fail, and every later transfer with it fails. */
  failHost (host: number): void {
    const h = this.#mustGet(host)
    h.failed = true
    for (const flow of [...h.up, ...h.down]) this.#end(flow, new DfError('DF_ERR_NETWORK', 'simulated host failed'))
  }

  /** Removes a flow (done, failed or aborted) and re-shares its hosts' capacity. */
  #end (flow: Flow, err?: Error): void {
    if (!flow.src.up.delete(flow)) return
    flow.dst.down.delete(flow)
    this.#flows.delete(flow)
    flow.timer?.cancel()
    this.#activeFlows--
    if (err === undefined) {
      flow.src.uploadedBytes += flow.bytes
      flow.src.lastUploadEndMs = this.#clock.now()
    }
    this.#reshare(flow.src, flow.dst)
    flow.finish(err)
  }

  /** New rates for every flow of `src`'s uploads and `dst`'s downloads. */
  #reshare (src: NetHost, dst: NetHost): void {
    if (this.#isCpuShared) {
      this.#reshareMachine()
      return
    }
    for (const flow of src.up) this.#rate(flow)
    for (const flow of dst.down) if (flow.src !== src) this.#rate(flow)
  }

  /** Every flow's link rate, cut to the machine's water level when together they exceed it. */
  #reshareMachine (): void {
    const linkRates = [...this.#flows].map((flow) => linkRateOf(flow)).sort((a, b) => a - b)
    let level = Number.POSITIVE_INFINITY
    let left = this.#sharedCpuBytesPerMs
    for (const [i, rate] of linkRates.entries()) {
      const fair = left / (linkRates.length - i)
      if (rate > fair) { level = fair; break }
      left -= rate
    }
    for (const flow of this.#flows) this.#rate(flow, Math.min(linkRateOf(flow), level))
  }

  #rate (flow: Flow, rate = linkRateOf(flow)): void {
    const now = this.#clock.now()
    flow.remaining = Math.max(0, flow.remaining - flow.rateBytesPerMs * (now - flow.updatedAtMs))
    flow.updatedAtMs = now
    if (rate === flow.rateBytesPerMs && flow.timer !== undefined) return
    flow.rateBytesPerMs = rate
    flow.timer?.cancel()
    const exactMs = Number.isFinite(rate) ? flow.remaining / rate : 0
    const dueMs = flow.exact ? now + exactMs : Math.ceil((now + exactMs) / this.#tickMs) * this.#tickMs
    flow.timer = this.#clock.setTimeout(() => { flow.timer = undefined; this.#end(flow) }, Math.max(0, dueMs - now))
  }

  get #isCpuShared (): boolean {
    return Number.isFinite(this.#sharedCpuBytesPerMs)
  }

  #mustGet (host: number): NetHost {
    const h = this.#hosts[host]
    if (h === undefined) throw new RangeError(`no simulated host ${host}`)
    return h
  }
}

/** A flow's rate as its two links allow: the tighter of its uploader's and downloader's equal shares. */
function linkRateOf (flow: Flow): number {
  return Math.min(flow.src.link.upBytesPerMs / flow.src.up.size, flow.dst.link.downBytesPerMs / flow.dst.down.size)
}

function abortReason (signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason
  return reason instanceof Error ? reason : new DfError('DF_ERR_INTERNAL', 'aborted')
}
