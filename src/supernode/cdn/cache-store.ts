/**
 * The CDN cache on disk, under `<homeDir>/cdn/`: per task one data file and one metadata
 * file, `cdn/<first 3 hex of taskId>/<taskId>.data` and `<taskId>.meta.json`. The metadata
 * (length, piece size, piece digests, ETag/Last-Modified, completion, last access) is
 * always written atomically, so after a crash it is either the old or the new version.
 * A data file is only trusted when its metadata says `complete`.
 */
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import type { ReadHandles } from '../../common/fs/read-handles.js'
import { writeFileAtomic } from '../../common/fs/atomic-write.js'
import { DfError } from '../../protocol/errors.js'
import { parseTaskId, type TaskId } from '../../protocol/ids.js'
import { PIECE_DIGEST_PATTERN } from '../../protocol/piece-digest.js'

const CacheMetaSchema = Type.Object({
  version: Type.Literal(1),
  taskId: Type.String(),
  /** The source URL without its query string (which may hold secrets). */
  url: Type.String(),
  fileLengthBytes: Type.Integer({ minimum: 0 }),
  pieceSizeBytes: Type.Integer({ minimum: 1 }),
  pieceDigests: Type.Array(Type.String({ pattern: PIECE_DIGEST_PATTERN })),
  etag: Type.Union([Type.String(), Type.Null()]),
  lastModified: Type.Union([Type.String(), Type.Null()]),
  complete: Type.Boolean(),
  lastAccessMs: Type.Number(),
})

/** The metadata file of one cached task. */
export type CacheMeta = Static<typeof CacheMetaSchema>

const checkMeta = TypeCompiler.Compile(CacheMetaSchema)

export class CacheStore {
  readonly #rootDir: string
  readonly #readHandles: Pick<ReadHandles, 'forget'> | undefined

  /** `readHandles`: the download port's open handles, told when a data file is replaced or deleted. */
  constructor (options: { homeDir: string }, deps: { readHandles?: Pick<ReadHandles, 'forget'> } = {}) {
    this.#rootDir = join(options.homeDir, 'cdn')
    this.#readHandles = deps.readHandles
  }

  /** Path of a task's data file. */
  dataPath (taskId: TaskId): string {
    return join(this.#rootDir, taskId.slice(0, 3), `${taskId}.data`)
  }

  metaPath (taskId: TaskId): string {
    return join(this.#rootDir, taskId.slice(0, 3), `${taskId}.meta.json`)
  }

  /** The metadata of a task, or undefined when absent or unreadable (treated as not cached). */
  async loadMeta (taskId: TaskId): Promise<CacheMeta | undefined> {
    let text: string
    try {
      text = await readFile(this.metaPath(taskId), 'utf8')
    } catch {
      return undefined
    }
    let value: unknown
    try { value = JSON.parse(text) } catch { return undefined }
    return checkMeta.Check(value) && value.taskId === taskId ? value : undefined
  }

  /** Writes the metadata atomically. @throws DF_ERR_CDN_IO */
  async saveMeta (meta: CacheMeta): Promise<void> {
    const taskId = parseTaskId(meta.taskId)
    try {
      await mkdir(join(this.#rootDir, taskId.slice(0, 3)), { recursive: true })
      await writeFileAtomic(this.metaPath(taskId), `${JSON.stringify(meta)}\n`)
    } catch (err) {
      throw new DfError('DF_ERR_CDN_IO', `cannot write cache metadata of ${taskId}`, { cause: err })
    }
  }

  /**
   * Creates (or truncates) the data file, sized to `lengthBytes` when known, and returns a
   * handle for positional writes; the caller closes it. @throws DF_ERR_CDN_IO
   */
  async createDataFile (taskId: TaskId, lengthBytes: number | undefined): Promise<FileHandle> {
    try {
      await mkdir(join(this.#rootDir, taskId.slice(0, 3)), { recursive: true })
      this.#readHandles?.forget(this.dataPath(taskId))
      const handle = await open(this.dataPath(taskId), 'w+', 0o644)
      if (lengthBytes !== undefined) await handle.truncate(lengthBytes)
      return handle
    } catch (err) {
      throw new DfError('DF_ERR_CDN_IO', `cannot create cache file of ${taskId}`, { cause: err })
    }
  }

  /** True when the data file exists with exactly `lengthBytes`. */
  async hasDataFile (taskId: TaskId, lengthBytes: number): Promise<boolean> {
    try {
      return (await stat(this.dataPath(taskId))).size === lengthBytes
    } catch {
      return false
    }
  }

  /** Deletes a task's files (missing files are fine). */
  async remove (taskId: TaskId): Promise<void> {
    await rm(this.metaPath(taskId), { force: true })
    this.#readHandles?.forget(this.dataPath(taskId))
    await rm(this.dataPath(taskId), { force: true })
  }

  /** Every task id with a data or metadata file in the cache. */
  async listTaskIds (): Promise<TaskId[]> {
    const ids = new Set<TaskId>()
    let shards: string[]
    try { shards = await readdir(this.#rootDir) } catch { return [] }
    for (const shard of shards) {
      let names: string[]
      try { names = await readdir(join(this.#rootDir, shard)) } catch { continue }
      for (const name of names) {
        const match = /^([0-9a-f]{64})\.(?:data|meta\.json)$/.exec(name)
        if (match?.[1] !== undefined) ids.add(parseTaskId(match[1]))
      }
    }
    return [...ids]
  }
}
