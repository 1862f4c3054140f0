/**
 * PreheatManager: the preheats of this supernode (Dragonfly 1.x's preheat API). A preheat
 * warms the CDN cache before any client asks: `file` caches one URL as the task a dfget of
 * that URL (same filter, identifier, md5) will register; `image` resolves a manifest URL to
 * every layer (and config) of every platform and caches each as the task identified by its
 * digest, the task dfdaemon's blob downloads register. The manager owns the preheat records; the CDN
 * work goes through TaskManager.preheat, so concurrent preheats and registrations of one
 * task share one source fetch. Records live in memory (the newest `maxRecords`).
 */
import { randomBytes } from 'node:crypto'
import type { Clock } from '../../common/clock.js'
import { redactUrl } from '../../common/http/redact-url.js'
import type { Logger } from '../../common/log.js'
import { DfError, invalidArgument } from '../../protocol/errors.js'
import { checkSourceHeaders } from '../../protocol/source-headers.js'
import type { PreheatInfo, PreheatRequest, PreheatStatus, PreheatTask } from '../../protocol/messages/preheat.js'
import type { TaskManager } from '../task/task-manager.js'
import { parseManifestUrl, type ImageResolver } from './image-resolver.js'

export interface PreheatManagerDeps {
  readonly logger: Logger
  readonly clock: Clock
  readonly tasks: Pick<TaskManager, 'preheat'>
  readonly resolver: Pick<ImageResolver, 'resolveBlobs'>
  /** Called when a preheat ends (metrics). */
  readonly onFinished?: (type: PreheatRequest['type'], status: 'success' | 'failed') => void
}

export interface PreheatManagerOptions {
  /**
   * Layers of one image cached in parallel. Default 1: the layers are read one after the
   * other in manifest order, the order engines ask for them, so the layer an engine wants
   * next is the one furthest along (parallel layers share the registry's link and all finish
   * late; in the lab at 1 Gbit/s, a pull through dfdaemon with its prefetch went from 1.47x
   * direct with 4 to 1.25x with 1).
   */
  readonly layerConcurrency?: number
  /** Finished preheats kept for GET. Default 1000. */
  readonly maxRecords?: number
}

interface PreheatRecord {
  readonly id: string
  readonly request: PreheatRequest
  status: PreheatStatus
  readonly createdAtMs: number
  finishedAtMs: number | undefined
  tasks: PreheatTask[]
  error: { code: string, message: string } | undefined
}

export class PreheatManager {
  readonly #deps: PreheatManagerDeps
  readonly #log: Logger
  readonly #layerConcurrency: number
  readonly #maxRecords: number
  readonly #records = new Map<string, PreheatRecord>()
  readonly #running = new Set<Promise<void>>()
  readonly #closing = new AbortController()

  constructor (deps: PreheatManagerDeps, options: PreheatManagerOptions = {}) {
    this.#deps = deps
    this.#log = deps.logger
    this.#layerConcurrency = options.layerConcurrency ?? 1
    this.#maxRecords = options.maxRecords ?? 1000
    if (!Number.isInteger(this.#layerConcurrency) || this.#layerConcurrency < 1) throw new DfError('DF_ERR_CONFIG_INVALID', `layerConcurrency: must be a whole number >= 1 (got ${this.#layerConcurrency})`, { details: { field: 'layerConcurrency' } })
  }

  /**
   * Starts a preheat and answers at once (status `waiting`); GET shows its progress.
   * @throws DF_ERR_ARG_INVALID (a bad URL, a header that cannot be sent, or an image URL that names no manifest)
   */
  create (request: PreheatRequest): PreheatInfo {
    if (this.#closing.signal.aborted) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'the supernode is closing')
    checkSourceHeaders(request.headers, 'body.headers')
    if (request.type === 'image') {
      try { parseManifestUrl(request.url) } catch { throw invalidArgument('body.url', 'an image preheat needs a manifest URL: http(s)://registry/v2/<name>/manifests/<reference>') }
    } else if (request.digests !== undefined) {
      throw invalidArgument('body.digests', 'digests choose blobs of an image: only with type image')
    }
    const record: PreheatRecord = { id: randomBytes(16).toString('hex'), request, status: 'waiting', createdAtMs: this.#deps.clock.now(), finishedAtMs: undefined, tasks: [], error: undefined }
    this.#records.set(record.id, record)
    this.#trim()
    const run = this.#run(record).finally(() => { this.#running.delete(run) })
    this.#running.add(run)
    this.#log.info({ preheatId: record.id, type: request.type, url: redactUrl(request.url) }, 'preheat started')
    return this.#info(record)
  }

  /** @throws DF_ERR_TASK_PREHEAT_NOT_FOUND */
  describe (id: string): PreheatInfo {
    const record = this.#records.get(id)
    if (record === undefined) throw new DfError('DF_ERR_TASK_PREHEAT_NOT_FOUND', `no preheat ${id}`, { details: { preheatId: id } })
    return this.#info(record)
  }

  list (): PreheatInfo[] {
    return [...this.#records.values()].map((record) => this.#info(record))
  }

  /** Preheats not finished yet. */
  get countRunning (): number {
    return this.#running.size
  }

  /** Stops waiting for running preheats (their CDN fetches are the CDN's to stop). Idempotent. */
  async close (): Promise<void> {
    this.#closing.abort(new DfError('DF_ERR_INTERNAL', 'supernode closing'))
    await Promise.allSettled([...this.#running])
  }

  async #run (record: PreheatRecord): Promise<void> {
    const { request } = record
    const signal = this.#closing.signal
    record.status = 'running'
    try {
      if (request.type === 'file') {
        await this.#warm(record, 'file', { url: request.url, headers: request.headers, filter: request.filter, md5: request.md5, identifier: request.identifier }, signal)
      } else {
        const wanted = request.digests === undefined ? undefined : new Set(request.digests)
        const blobs = (await this.#deps.resolver.resolveBlobs(request.url, request.headers ?? {}, signal)).filter((blob) => wanted?.has(blob.digest) ?? true)
        const missing = [...wanted ?? []].filter((digest) => !blobs.some((blob) => blob.digest === digest))
        if (missing.length > 0) throw invalidArgument('body.digests', `not blobs of this image: ${missing.join(', ')}`)
        // Workers take the next layer until none is left or one failed; the preheat ends
        // when every worker has stopped, so nothing of it runs on after its status is set.
        let next = 0
        let failure: { err: unknown } | undefined
        const worker = async (): Promise<void> => {
          while (next < blobs.length && failure === undefined) {
            const blob = blobs[next++]
            if (blob === undefined) continue
            try {
              await this.#warm(record, blob.kind, { url: blob.url, headers: blob.headers, digest: blob.digest }, signal)
            } catch (err) {
              failure ??= { err }
            }
          }
        }
        await Promise.all(Array.from({ length: Math.min(this.#layerConcurrency, blobs.length) }, worker))
        if (failure !== undefined) throw failure.err
      }
      record.status = 'success'
    } catch (err) {
      record.status = 'failed'
      record.error = { code: err instanceof DfError ? err.code : 'DF_ERR_INTERNAL', message: err instanceof Error ? err.message : String(err) }
      for (const task of record.tasks) if (task.status !== 'success') task.status = 'failed'
      this.#log.warn({ preheatId: record.id, url: redactUrl(request.url), err }, 'preheat failed')
    }
    record.finishedAtMs = this.#deps.clock.now()
    this.#deps.onFinished?.(request.type, record.status === 'success' ? 'success' : 'failed')
    if (record.status === 'success') this.#log.info({ preheatId: record.id, tasks: record.tasks.length, durationMs: record.finishedAtMs - record.createdAtMs }, 'preheat done')
  }

  /** Caches one task and waits until every piece is in. */
  async #warm (record: PreheatRecord, kind: PreheatTask['kind'], spec: Parameters<TaskManager['preheat']>[0] & { digest?: string }, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    const started = await this.#deps.tasks.preheat(spec)
    const task: PreheatTask = { taskId: started.taskId, kind, url: redactUrl(spec.url), ...(spec.digest === undefined ? {} : { digest: spec.digest }), status: 'running', fileLengthBytes: started.fileLengthBytes }
    record.tasks = [...record.tasks, task]
    await abortable(started.completion, signal)
    record.tasks = record.tasks.map((entry) => entry === task ? { ...task, status: 'success' } : entry)
  }

  #trim (): void {
    for (const [id, record] of this.#records) {
      if (this.#records.size <= this.#maxRecords) return
      if (record.finishedAtMs !== undefined) this.#records.delete(id)
    }
  }

  #info (record: PreheatRecord): PreheatInfo {
    return {
      id: record.id,
      type: record.request.type,
      url: redactUrl(record.request.url),
      status: record.status,
      createdAt: new Date(record.createdAtMs).toISOString(),
      ...(record.finishedAtMs === undefined ? {} : { finishedAt: new Date(record.finishedAtMs).toISOString() }),
      tasks: record.tasks.map((task) => ({ ...task })),
      ...(record.error === undefined ? {} : { error: { ...record.error } }),
    }
  }
}

async function abortable (promise: Promise<void>, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(signal.reason as Error) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    await Promise.race([promise, aborted])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
