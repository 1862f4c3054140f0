/**
 * The supernode's Prometheus metrics, on a Registry owned by each Supernode instance (no
 * global registry, so two supernodes can run in one process). Names keep Dragonfly 1.x's
 * (namespace `dragonfly`, subsystem `supernode`, DESIGN.md §9) so existing dashboards work.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { PieceOrigin } from '../protocol/messages/pull-piece-task.js'

/** Where a reported piece came from, as a metric label (declared in protocol/). */
export type PieceSourceLabel = PieceOrigin

export class SupernodeMetrics {
  readonly registry = new Registry()
  /** Bytes read from sources. */
  readonly cdnDownloadBytes: Counter
  /** Piece bytes clients fetched from the supernode's download port. */
  readonly piecesDownloadedBytes: Counter
  /** Registrations that found the file in the CDN cache on disk (still valid at the source). */
  readonly cdnCacheHits: Counter
  /** Time to choose pieces for one pull evaluation. */
  readonly scheduleDurationMs: Histogram
  /** Piece reports by where the piece came from and the result. */
  readonly pieceReports: Counter<'source' | 'result'>
  /** Piece bytes reported received, by where they came from. */
  readonly pieceReportBytes: Counter<'source'>
  /** Task registrations (one per cid registration). */
  readonly registrations: Counter
  /** Answers to pulls, by outcome. */
  readonly pullOutcomes: Counter<'result'>
  /** Control protocol v2: syncs answered, by why (now, digests, parents, timeout). */
  readonly syncAnswers: Counter<'why'>
  /** Requests to the API's /api/v1 and /api/v2 routes, by protocol version. */
  readonly apiRequests: Counter<'version'>
  /** Finished preheats, by type (file, image) and status (success, failed). */
  readonly preheats: Counter<'type' | 'status'>
  /** Cache files deleted by GC, by reason (expired, size, free_space). */
  readonly cacheEvictions: Counter<'reason'>
  /** Bytes of cache files deleted by GC, by reason. */
  readonly cacheEvictedBytes: Counter<'reason'>
  /** Source access checks of registrations, by result (AccessCheckResult). */
  readonly accessChecks: Counter<'result'>
  /** Piece requests the download port refused for their grant, by reason (GrantRefusalReason). */
  readonly pieceGrantRefusals: Counter<'reason'>

  constructor (deps: { countPeers: () => number, countTasks: () => number, countWaitingPulls: () => number, cacheUsedBytes?: () => number }) {
    const registers = [this.registry]
    this.cdnDownloadBytes = new Counter({ name: 'dragonfly_supernode_cdn_download_size_bytes_total', help: 'Bytes read from sources by the CDN.', registers })
    this.piecesDownloadedBytes = new Counter({ name: 'dragonfly_supernode_pieces_downloaded_size_bytes_total', help: 'Piece bytes clients fetched from the supernode itself.', registers })
    this.cdnCacheHits = new Counter({ name: 'dragonfly_supernode_cdn_cache_hit_total', help: 'Tasks served from a CDN cache file still valid at the source.', registers })
    this.scheduleDurationMs = new Histogram({
      name: 'dragonfly_supernode_schedule_duration_milliseconds',
      help: 'Time to choose the pieces of one pull, in milliseconds.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100],
      registers,
    })
    this.pieceReports = new Counter({ name: 'dragonfly_supernode_piece_reports_total', help: 'Piece reports by source (supernode, peer, source) and result.', labelNames: ['source', 'result'], registers })
    this.pieceReportBytes = new Counter({ name: 'dragonfly_supernode_piece_report_size_bytes_total', help: 'Piece bytes clients reported received, by source.', labelNames: ['source'], registers })
    this.registrations = new Counter({ name: 'dragonfly_supernode_registrations_total', help: 'Task registrations of clients.', registers })
    this.pullOutcomes = new Counter({ name: 'dragonfly_supernode_pull_outcomes_total', help: 'Answers to piece pulls, by outcome.', labelNames: ['result'], registers })
    this.syncAnswers = new Counter({ name: 'dragonfly_supernode_sync_answers_total', help: 'Control protocol v2: syncs answered, by why (now, digests, parents, cdn, timeout).', labelNames: ['why'], registers })
    this.apiRequests = new Counter({ name: 'dragonfly_supernode_api_requests_total', help: 'Requests to the API\'s /api/v1 and /api/v2 routes, by protocol version.', labelNames: ['version'], registers })
    this.preheats = new Counter({ name: 'dragonfly_supernode_preheats_total', help: 'Finished preheats, by type (file, image) and status (success, failed).', labelNames: ['type', 'status'], registers })
    this.cacheEvictions = new Counter({ name: 'dragonfly_supernode_cdn_cache_evictions_total', help: 'CDN cache files deleted by GC, by reason (expired, size, free_space).', labelNames: ['reason'], registers })
    this.cacheEvictedBytes = new Counter({ name: 'dragonfly_supernode_cdn_cache_evicted_size_bytes_total', help: 'Bytes of CDN cache files deleted by GC, by reason.', labelNames: ['reason'], registers })
    this.accessChecks = new Counter({ name: 'dragonfly_supernode_access_checks_total', help: 'Source access checks of task registrations, by result (proven, cached, refused, public).', labelNames: ['result'], registers })
    this.pieceGrantRefusals = new Counter({ name: 'dragonfly_supernode_piece_grant_refusals_total', help: 'Piece requests the download port refused for their grant, by reason (missing, expired, wrong_task, bad_signature, malformed).', labelNames: ['reason'], registers })
    new Gauge({ name: 'dragonfly_supernode_cdn_cache_size_bytes', help: 'Bytes of CDN cache files, as of the last GC or cache admission.', registers, collect () { this.set(deps.cacheUsedBytes?.() ?? 0) } })
    new Gauge({ name: 'dragonfly_supernode_peers', help: 'Registered peers.', registers, collect () { this.set(deps.countPeers()) } })
    new Gauge({ name: 'dragonfly_supernode_tasks', help: 'Tasks in memory.', registers, collect () { this.set(deps.countTasks()) } })
    new Gauge({ name: 'dragonfly_supernode_waiting_pulls', help: 'Pulls held (long-polling) right now.', registers, collect () { this.set(deps.countWaitingPulls()) } })
  }

  /** Piece bytes clients reported, by source, and bytes the CDN read, since start (the dashboard's totals). */
  async fetchByteTotals (): Promise<{ fromSupernodeBytes: number, fromPeersBytes: number, fromSourceBytes: number, cdnReadBytes: number }> {
    const reported = await this.pieceReportBytes.get()
    const bySource = (source: PieceSourceLabel): number => reported.values.find((value) => value.labels.source === source)?.value ?? 0
    const cdnRead = (await this.cdnDownloadBytes.get()).values[0]?.value ?? 0
    return { fromSupernodeBytes: bySource('supernode'), fromPeersBytes: bySource('peer'), fromSourceBytes: bySource('source'), cdnReadBytes: cdnRead }
  }

  /** The Prometheus text exposition. */
  async render (): Promise<{ contentType: string, text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() }
  }
}
