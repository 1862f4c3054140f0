/**
 * CdnManager: fetches each task's file from its source once, caches it on disk with its
 * piece digests, and feeds the progress manager piece by piece. Concurrent registrations
 * of one task share one preparation (single flight: a keyed map of in-flight promises,
 * entry removed in `finally`). A preparation resolves as soon as the file's length is
 * known; the pieces keep arriving in the background (for a source that gives no length,
 * only once the whole file is cached).
 *
 * A complete cache file from an earlier run is revalidated with the source (a conditional
 * `Range: bytes=0-0` GET): 304, or the same ETag/Last-Modified, reuses it without reading
 * the body (a cache hit); anything else fetches the file again.
 */
import type { Clock } from '../../common/clock.js'
import { redactUrl } from '../../common/http/redact-url.js'
import type { Logger } from '../../common/log.js'
import { DfError } from '../../protocol/errors.js'
import type { TaskId } from '../../protocol/ids.js'
import type { PieceDigest } from '../../protocol/piece-digest.js'
import { checkFileDigest, ContentDigestCheck } from './content-digest-check.js'
import { computePieceSizeBytes, pieceCount } from '../../protocol/piece-range.js'
import type { SupernodeMetrics } from '../metrics.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import type { CacheMeta, CacheStore } from './cache-store.js'
import { fillCacheRanged, fillCacheFromStream, hashCachedFile } from './cache-fill.js'
import type { HotPieces } from './hot-pieces.js'
import { discardBody, type SourceReader } from '../../common/source/source-reader.js'
import { isSameVersion, type SourceValidators } from '../../common/source/source-validators.js'

/** What the CDN needs to fetch a task. */
export interface CdnTaskSpec {
  readonly taskId: TaskId
  readonly url: string
  /** Headers sent to the source (may hold credentials: never logged). */
  readonly headers: Readonly<Record<string, string>>
  /** The content digest that identifies the task ("sha256:<hex>"): the file is cached only if it matches (ContentDigestCheck). */
  readonly digest?: string | undefined
  /**
   * Where the reads after the probe go, when that can change during the download (the task
   * manager's most recent registration of the same URL: an earlier signed URL may have
   * expired). Default: `url` and `headers`.
   */
  readonly currentSource?: (() => { readonly url: string, readonly headers: Readonly<Record<string, string>> }) | undefined
  /**
   * For a task without `digest`: the probe's answer stated the content's digest
   * (common/source/stated-digest.ts). `fetch`: the task is that content, the file is checked
   * against it; `same-content`: another task has that content, nothing is fetched and
   * prepareTask resolves with `{ sameContent: true }`. Without it a stated digest is ignored.
   */
  readonly onStatedDigest?: ((digest: string) => 'fetch' | 'same-content') | undefined
}

/** prepareTask's answer when the source stated a digest that another task already has (onStatedDigest). */
export interface CdnSameContent { readonly sameContent: true }

/** A task's geometry, known once the source told its length. */
export interface CdnTaskGeometry {
  readonly fileLengthBytes: number
  readonly pieceSizeBytes: number
  readonly pieceCount: number
  /** True when the file came from the cache on disk. */
  readonly isFromCache: boolean
  /** The source version the pieces are of: its ETag, else its Last-Modified (absent when it sent neither). */
  readonly sourceVersion?: string
  /** Settles when every piece is cached (rejects with the cause when the fetch failed). */
  readonly completion: Promise<void>
}

export interface CdnManagerOptions {
  /** Parallel ranged requests per task. */
  readonly concurrency: number
  /** Attempts per piece read before the task fails. */
  readonly attempts: number
}

export interface CdnManagerDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly store: CacheStore
  /** The source reader (redirects, the source policy at every hop, credentials). */
  readonly reader: Pick<SourceReader, 'probe' | 'openRange'>
  readonly progress: Pick<ProgressManager, 'createTask' | 'markCached'>
  readonly metrics: Pick<SupernodeMetrics, 'cdnDownloadBytes' | 'cdnCacheHits'>
  /**
   * Called before a new file of `lengthBytes` enters the cache, so the cache budget can
   * evict least recently used files first (gc/cache-budget.ts). Never rejects.
   */
  readonly makeRoom?: (taskId: TaskId, lengthBytes: number) => Promise<void>
  /** Keeps the pieces just cached in memory for the first requests (hot-pieces.ts). */
  readonly hotPieces?: Pick<HotPieces, 'add' | 'dropTask'>
}

interface Download { readonly controller: AbortController, readonly done: Promise<void>, readonly geometry: CdnTaskGeometry }

export class CdnManager {
  readonly #deps: CdnManagerDeps
  readonly #log: Logger
  readonly #options: CdnManagerOptions
  readonly #preparing = new Map<TaskId, Promise<CdnTaskGeometry | CdnSameContent>>()
  readonly #downloads = new Map<TaskId, Download>()
  /** Cache files being deleted; a preparation of the same task waits for the deletion. */
  readonly #removing = new Map<TaskId, Promise<void>>()
  readonly #closing = new AbortController()

  constructor (deps: CdnManagerDeps, options: CdnManagerOptions) {
    this.#deps = deps
    this.#log = deps.logger
    this.#options = options
  }

  /**
   * Makes sure the task's file is cached or being cached; resolves with its geometry once
   * the length is known. @throws DF_ERR_SOURCE_STATUS, DF_ERR_SOURCE_UNREACHABLE, DF_ERR_CDN_IO
   */
  async prepareTask (spec: CdnTaskSpec): Promise<CdnTaskGeometry | CdnSameContent> {
    const inFlight = this.#preparing.get(spec.taskId)
    if (inFlight !== undefined) return await inFlight
    // A download already running (the task left memory and came back) is the same flight.
    const running = this.#downloads.get(spec.taskId)
    if (running !== undefined) return running.geometry
    const preparing = this.#prepare(spec)
    this.#preparing.set(spec.taskId, preparing)
    try {
      return await preparing
    } finally {
      this.#preparing.delete(spec.taskId)
    }
  }

  /** True while the task is being prepared or downloaded (its cache files are in use). */
  isBusy (taskId: TaskId): boolean {
    return this.#preparing.has(taskId) || this.#downloads.has(taskId)
  }

  /** Stops a task's download (its files are removed by the download's own cleanup). */
  abortTask (taskId: TaskId): void {
    this.#downloads.get(taskId)?.controller.abort(new DfError('DF_ERR_TASK_NOT_FOUND', 'task removed'))
  }

  /** Records in the metadata that the task was last used at `atMs` (GC reads it). */
  async recordAccess (taskId: TaskId, atMs: number): Promise<void> {
    const meta = await this.#deps.store.loadMeta(taskId)
    if (meta?.complete === true && meta.lastAccessMs < atMs) await this.#deps.store.saveMeta({ ...meta, lastAccessMs: atMs })
  }

  /**
   * Deletes a task's cache files. The caller checked, synchronously before this call, that
   * nobody uses the task; a registration arriving meanwhile waits until the files are gone
   * and then fetches the file again.
   */
  async removeCached (taskId: TaskId): Promise<void> {
    const previous = this.#removing.get(taskId)
    if (previous !== undefined) return await previous
    const removing = this.#removeFiles(taskId).finally(() => { this.#removing.delete(taskId) })
    this.#removing.set(taskId, removing)
    await removing
  }

  /**
   * Whether the task's complete cache file is still the source's current version: a
   * conditional `Range: bytes=0-0` GET with its ETag / Last-Modified. A file not cached
   * completely, or a source that cannot be asked, counts as unchanged (the cache keeps
   * serving); only a source answering with other validators or length says changed.
   */
  async isSourceUnchanged (spec: CdnTaskSpec): Promise<boolean> {
    if (this.isBusy(spec.taskId)) return true
    const meta = await this.#deps.store.loadMeta(spec.taskId).catch(() => undefined)
    if (meta?.complete !== true) return true
    const validators = { etag: meta.etag, lastModified: meta.lastModified }
    if (validators.etag === null && validators.lastModified === null) return true
    try {
      const probe = await this.#deps.reader.probe(spec.url, spec.headers, validators, this.#closing.signal)
      if (probe.kind === 'not-modified') return true
      if (probe.kind === 'whole') discardBody(probe.read.body)
      const seen = probe.kind === 'ranged' ? probe.validators : probe.read.validators
      const lengthBytes = probe.kind === 'ranged' ? probe.lengthBytes : probe.read.totalBytes
      const unchanged = isSameVersion(validators, seen) && lengthBytes === meta.fileLengthBytes
      if (!unchanged) this.#log.info({ taskId: spec.taskId, url: redactUrl(spec.url) }, 'source changed since it was cached')
      return unchanged
    } catch (err) {
      this.#log.warn({ taskId: spec.taskId, err }, 'cannot revalidate the cache with the source; serving the cached file')
      return true
    }
  }

  /** Aborts every download and waits for them to stop. Idempotent. */
  async close (): Promise<void> {
    this.#closing.abort(new DfError('DF_ERR_CDN_IO', 'supernode closing'))
    for (const download of this.#downloads.values()) download.controller.abort(this.#closing.signal.reason)
    await Promise.allSettled([...this.#preparing.values(), ...[...this.#downloads.values()].map((d) => d.done)])
  }

  async #prepare (given: CdnTaskSpec): Promise<CdnTaskGeometry | CdnSameContent> {
    const { store, reader } = this.#deps
    const log = this.#log.child({ taskId: given.taskId })
    const signal = this.#closing.signal
    await this.#removing.get(given.taskId)?.catch(() => undefined)
    const meta = await store.loadMeta(given.taskId)
    const cached = meta?.complete === true && await store.hasDataFile(given.taskId, meta.fileLengthBytes) ? meta : undefined
    const cachedValidators = cached === undefined ? undefined : { etag: cached.etag, lastModified: cached.lastModified }
    const probe = await reader.probe(given.url, given.headers, cachedValidators, signal)
    const stated = probe.kind === 'ranged' ? probe.statedDigest : probe.kind === 'whole' ? probe.read.statedDigest : undefined
    const claim = given.digest === undefined && stated !== undefined ? given.onStatedDigest?.(stated) : undefined
    if (claim === 'same-content') {
      if (probe.kind === 'whole') discardBody(probe.read.body)
      log.info({ url: redactUrl(given.url), digest: stated }, 'the source states a digest another task has: joining it')
      return { sameContent: true }
    }
    const spec = claim === 'fetch' ? { ...given, digest: stated } : given
    if (cached !== undefined && cachedValidators !== undefined) {
      const isCurrent = probe.kind === 'not-modified' ||
        (probe.kind === 'ranged' && isSameVersion(cachedValidators, probe.validators) && probe.lengthBytes === cached.fileLengthBytes) ||
        (probe.kind === 'whole' && isSameVersion(cachedValidators, probe.read.validators))
      if (isCurrent) {
        if (probe.kind === 'whole') discardBody(probe.read.body)
        return await this.#reuse(spec, cached)
      }
      log.info({ url: redactUrl(spec.url) }, 'source changed since it was cached; fetching again')
    }
    if (probe.kind === 'not-modified') throw new DfError('DF_ERR_SOURCE_STATUS', 'source answered 304 to an unconditional request', { details: { status: 304 } })
    await this.#removeFiles(spec.taskId)
    if (probe.kind === 'ranged') return await this.#startDownload(spec, probe.lengthBytes, probe.validators, undefined)
    if (probe.read.totalBytes !== undefined) return await this.#startDownload(spec, probe.read.totalBytes, probe.read.validators, probe.read)
    return await this.#downloadUnknownLength(spec, probe.read)
  }

  /** The cache file is current: announce every piece at once. */
  async #reuse (spec: CdnTaskSpec, meta: CacheMeta): Promise<CdnTaskGeometry> {
    const count = pieceCount(meta.fileLengthBytes, meta.pieceSizeBytes)
    this.#deps.progress.createTask(spec.taskId, count)
    meta.pieceDigests.forEach((digest, pieceNum) => { this.#deps.progress.markCached(spec.taskId, pieceNum, digest) })
    this.#deps.metrics.cdnCacheHits.inc()
    await this.#deps.store.saveMeta({ ...meta, lastAccessMs: this.#deps.clock.now() }).catch((err: unknown) => {
      this.#log.warn({ taskId: spec.taskId, err }, 'cannot update cache metadata')
    })
    this.#log.info({ taskId: spec.taskId, fileLengthBytes: meta.fileLengthBytes }, 'CDN cache hit')
    return { fileLengthBytes: meta.fileLengthBytes, pieceSizeBytes: meta.pieceSizeBytes, pieceCount: count, isFromCache: true, completion: Promise.resolve(), ...versionOf(meta) }
  }

  /** Known length: create the file, then fetch the pieces in the background. */
  async #startDownload (spec: CdnTaskSpec, fileLengthBytes: number, validators: SourceValidators, whole: Parameters<typeof fillCacheFromStream>[1] | undefined): Promise<CdnTaskGeometry> {
    const { store, progress } = this.#deps
    const pieceSizeBytes = computePieceSizeBytes(fileLengthBytes)
    const count = pieceCount(fileLengthBytes, pieceSizeBytes)
    const contentCheck = spec.digest === undefined ? undefined : new ContentDigestCheck(spec.digest, count)
    await this.#deps.makeRoom?.(spec.taskId, fileLengthBytes)
    let file
    try {
      file = await store.createDataFile(spec.taskId, fileLengthBytes)
      await store.saveMeta(this.#meta(spec, fileLengthBytes, pieceSizeBytes, validators, [], false))
    } catch (err) {
      if (whole !== undefined) discardBody(whole.body)
      await file?.close()
      throw err
    }
    progress.createTask(spec.taskId, count)
    const controller = new AbortController()
    const signal = AbortSignal.any([controller.signal, this.#closing.signal])
    const target = { url: spec.url, headers: spec.headers, currentSource: spec.currentSource, validators, file, fileLengthBytes, pieceSizeBytes }
    const downloadDeps = this.#downloadDeps(spec.taskId, pieceSizeBytes, contentCheck)
    const startedMs = this.#deps.clock.now()
    const done = (async () => {
      try {
        const digests = whole === undefined
          ? await fillCacheRanged(target, downloadDeps, { concurrency: this.#options.concurrency, attempts: this.#options.attempts, signal })
          : (await fillCacheFromStream(target, whole, downloadDeps, { attempts: this.#options.attempts, signal })).digests ?? []
        contentCheck?.finish()
        await file.sync()
        await store.saveMeta(this.#meta(spec, fileLengthBytes, pieceSizeBytes, validators, digests, true))
        this.#log.info({ taskId: spec.taskId, fileLengthBytes, durationMs: this.#deps.clock.now() - startedMs, mode: whole === undefined ? 'ranged' : 'stream' }, 'CDN cached the file')
      } catch (err) {
        if (whole !== undefined) discardBody(whole.body)
        await this.#removeFiles(spec.taskId).catch(() => undefined)
        throw err
      } finally {
        await file.close().catch(() => undefined)
        this.#downloads.delete(spec.taskId)
      }
    })()
    done.catch(() => undefined) // the task manager handles the failure through `completion`
    const geometry = { fileLengthBytes, pieceSizeBytes, pieceCount: count, isFromCache: false, completion: done, ...versionOf(validators) }
    this.#downloads.set(spec.taskId, { controller, done, geometry })
    return geometry
  }

  /** No length from the source: cache the whole stream first, then cut and hash it. */
  async #downloadUnknownLength (spec: CdnTaskSpec, whole: Parameters<typeof fillCacheFromStream>[1]): Promise<CdnTaskGeometry> {
    const { store, progress } = this.#deps
    const file = await store.createDataFile(spec.taskId, undefined).catch((err: unknown) => { discardBody(whole.body); throw err })
    try {
      const target = { url: spec.url, headers: spec.headers, currentSource: spec.currentSource, validators: whole.validators, file, fileLengthBytes: undefined, pieceSizeBytes: undefined }
      const { lengthBytes } = await fillCacheFromStream(target, whole, this.#downloadDeps(spec.taskId, undefined, undefined), { attempts: this.#options.attempts, signal: this.#closing.signal })
      if (spec.digest !== undefined) await checkFileDigest(file, lengthBytes, spec.digest)
      const pieceSizeBytes = computePieceSizeBytes(lengthBytes)
      const count = pieceCount(lengthBytes, pieceSizeBytes)
      progress.createTask(spec.taskId, count)
      const digests = await hashCachedFile(file, lengthBytes, pieceSizeBytes, (pieceNum, digest) => { progress.markCached(spec.taskId, pieceNum, digest) })
      await file.sync()
      await store.saveMeta(this.#meta(spec, lengthBytes, pieceSizeBytes, whole.validators, digests, true))
      return { fileLengthBytes: lengthBytes, pieceSizeBytes, pieceCount: count, isFromCache: false, completion: Promise.resolve(), ...versionOf(whole.validators) }
    } catch (err) {
      await this.#removeFiles(spec.taskId).catch(() => undefined)
      throw err
    } finally {
      await file.close().catch(() => undefined)
    }
  }

  /** Deletes the task's cache files, and its pieces held in memory with them. */
  async #removeFiles (taskId: TaskId): Promise<void> {
    this.#deps.hotPieces?.dropTask(taskId)
    await this.#deps.store.remove(taskId)
  }

  #downloadDeps (taskId: TaskId, pieceSizeBytes: number | undefined, contentCheck: ContentDigestCheck | undefined): Parameters<typeof fillCacheRanged>[1] {
    return {
      reader: this.#deps.reader,
      onPieceCached: (pieceNum: number, digest: PieceDigest, chunks: readonly Buffer[]) => {
        if (pieceSizeBytes !== undefined) this.#deps.hotPieces?.add(taskId, pieceNum, pieceNum * pieceSizeBytes, chunks)
        const announce = (): void => { this.#deps.progress.markCached(taskId, pieceNum, digest) }
        if (contentCheck === undefined) announce()
        else contentCheck.add(pieceNum, chunks, announce)
      },
      onBytesRead: (bytes: number) => { this.#deps.metrics.cdnDownloadBytes.inc(bytes) },
    }
  }

  #meta (spec: CdnTaskSpec, fileLengthBytes: number, pieceSizeBytes: number, validators: SourceValidators, digests: PieceDigest[], complete: boolean): CacheMeta {
    return {
      version: 1,
      taskId: spec.taskId,
      url: redactUrl(spec.url),
      fileLengthBytes,
      pieceSizeBytes,
      pieceDigests: digests,
      etag: validators.etag,
      lastModified: validators.lastModified,
      complete,
      lastAccessMs: this.#deps.clock.now(),
    }
  }
}

/** `{ sourceVersion }` from a source's validators: its ETag, else its Last-Modified; `{}` without either. */
function versionOf (validators: SourceValidators): { sourceVersion?: string } {
  const version = validators.etag ?? validators.lastModified
  return version === null || version === '' ? {} : { sourceVersion: version }
}
