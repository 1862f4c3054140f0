/**
 * What a file run (dfget.ts) and a stream run (dfget-stream.ts) share: one pipeline, two
 * targets. Both open a run the same way (the deadline, the data plane, the rate limit, the
 * resources closed at the end), drive the same piece loop over the same fetcher into their
 * target (the data file's TargetWriter or the StreamWindow), map a failure the same way and
 * report the same result. What differs is the target, how the host serves it (an upload
 * lease of the data file, or the stream store) and how the output is handed over.
 */
import type { Logger } from '../common/log.js'
import type { Clock } from '../common/clock.js'
import { CloseStack } from '../common/lifecycle.js'
import { bearerHeaders } from '../common/http/auth.js'
import { RateLimiter } from '../common/rate-limiter.js'
import { DfError } from '../protocol/errors.js'
import { BACK_SOURCE_REASONS, type BackSourceReason } from '../protocol/result-codes.js'
import type { DfgetConfig } from './config.js'
import type { DfgetDeps, DfgetResult } from './dfget.js'
import { createRunDataPlane, type DataPlane } from './data-plane.js'
import { createHomeLayout, ensureHomeDirs } from './home-layout.js'
import type { SupernodeLocator, SupernodeRegistration } from './supernode-locator.js'
import type { SwarmRegistration } from './swarm-join.js'
import { PieceFetcher, type PieceTarget } from './downloader/piece-fetcher.js'
import { PieceLoopRunner, type ControlProtocol, type PieceLoopRunnerDeps } from './downloader/piece-loop-runner.js'
import type { TransferStats } from './downloader/transfer-stats.js'

/** Deadline for a piece's headers and for each gap in its body. */
const PIECE_TIMEOUT_MS = 15_000

/** A run's shared means: released by `resources.close()` at its end. */
export interface RunTools {
  readonly plane: DataPlane
  readonly limiter: RateLimiter
  readonly resources: CloseStack
  /** The caller's signal, the run's own (`extra`) and --timeout. */
  readonly signal: AbortSignal
}

/** Opens a run: its home, its data plane (the caller's, or one of its own) and its rate limit. */
export async function openRun (config: DfgetConfig, deps: Pick<DfgetDeps, 'signal' | 'dataPlane'>, extra?: AbortSignal): Promise<RunTools> {
  const signals = [deps.signal, extra, config.timeoutMs > 0 ? AbortSignal.timeout(config.timeoutMs) : undefined].filter((s) => s !== undefined)
  const signal = AbortSignal.any(signals)
  const resources = new CloseStack()
  try {
    await ensureHomeDirs(createHomeLayout(config.homeDir))
    const plane = deps.dataPlane ?? resources.push(await createRunDataPlane(config.caCertPath))
    const rates = [config.localLimitBytesPerSec, config.totalLimitBytesPerSec].filter((rate) => rate > 0)
    return { plane, limiter: new RateLimiter(rates.length === 0 ? 0 : Math.min(...rates)), resources, signal }
  } catch (err) {
    await resources.close()
    throw mapRunFailure(err, signal, config)
  }
}

/** The piece loop of a registered run, fetching into `target`. */
export function createPieceLoop (run: {
  readonly config: DfgetConfig
  readonly tools: RunTools
  readonly logger: Logger
  readonly clock: Clock
  readonly stats: TransferStats
  readonly supernodes: SupernodeLocator
  readonly registration: SupernodeRegistration
  readonly request: SwarmRegistration['request']
  readonly protocol?: ControlProtocol
}, target: PieceLoopRunnerDeps['writer'] & PieceTarget, hooks: Pick<PieceLoopRunnerDeps, 'window' | 'onPieceVerified' | 'onSupernodeChange'> = {}): PieceLoopRunner {
  const { config, tools, registration } = run
  const cdn = config.pattern === 'cdn'
  const headers = bearerHeaders(config.token)
  return new PieceLoopRunner({
    logger: run.logger,
    clock: run.clock,
    locator: run.supernodes,
    plane: tools.plane,
    headers,
    writer: target,
    fetcher: new PieceFetcher({ plane: tools.plane, writer: target, limiter: tools.limiter }, {
      pieceTimeoutMs: PIECE_TIMEOUT_MS,
      cdnDataUrl: cdn ? registration.task.dataUrl : undefined,
      headers,
    }),
    stats: run.stats,
    ...hooks,
  }, {
    registration,
    ...run.request,
    stallTimeoutMs: config.stallTimeoutMs,
    // A window target (stream mode) registers its window: the supernode schedules inside it.
    ...(hooks.window === undefined ? {} : { windowPieces: config.windowPieces }),
    // Pattern cdn fetches every piece from the supernode's task data: per-piece pulls (v1).
    ...(cdn ? { protocol: 'v1' as const } : run.protocol === undefined ? {} : { protocol: run.protocol }),
  })
}

/** What a finished run reports. */
export function runResult (config: DfgetConfig, run: { taskId: string | undefined, cid: string, lengthBytes: number, startedMs: number, stats: TransferStats, backSource: BackSourceReason }): DfgetResult {
  return {
    url: config.url,
    output: config.output,
    taskId: run.taskId,
    cid: run.cid,
    lengthBytes: run.lengthBytes,
    durationMs: Date.now() - run.startedMs,
    bytesFromSource: run.stats.bytesFromSource,
    bytesFromSupernode: run.stats.bytesFromSupernode,
    bytesFromPeers: run.stats.bytesFromPeers,
    backSourceReason: BACK_SOURCE_REASONS[run.backSource],
    backSourceReasonName: run.backSource,
  }
}

/** A run's failure as a DfError: --timeout becomes DF_ERR_TIMEOUT, an abort its reason. */
export function mapRunFailure (err: unknown, signal: AbortSignal, config: Pick<DfgetConfig, 'timeoutMs'>): DfError {
  const reason: unknown = signal.reason
  if (signal.aborted && reason instanceof Error && reason.name === 'TimeoutError') {
    return new DfError('DF_ERR_TIMEOUT', `the download did not finish within ${config.timeoutMs / 1000} s (--timeout)`, { cause: err })
  }
  if (err instanceof DfError) return err
  if (signal.aborted) return abortReason(signal)
  return new DfError('DF_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err })
}

/** Why a run's signal aborted, as a DfError. */
export function abortReason (signal: AbortSignal): DfError {
  const reason: unknown = signal.reason
  if (reason instanceof DfError) return reason
  if (reason instanceof Error && reason.name === 'TimeoutError') return new DfError('DF_ERR_TIMEOUT', 'the download did not finish in time (--timeout)', { cause: reason })
  return new DfError('DF_ERR_INTERNAL', 'aborted', { cause: reason })
}
