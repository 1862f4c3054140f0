/**
 * Filling the CDN cache: reading one task's file from its source (through the shared source
 * reader, common/source/) into the cache file, piece by piece. Two ways, chosen by the probe:
 * - ranged: one Range request for the whole file by default (`concurrency` 1), so pieces
 *   complete in order, each one as soon as its bytes are in: a streaming first peer gets
 *   piece k while k+1 downloads, and the supernode's uplink is busy from the first piece (as
 *   Dragonfly 1.x read every source). Parallel workers share the same source link, so their
 *   pieces complete interleaved and the last few together at the end: in the lab at
 *   300 Mbit/s, 4 workers made a cold pull through dfdaemon 1.26x direct, 1 worker 1.14x.
 *   With `concurrency` > 1 (sources that are slow per connection), workers take runs of
 *   consecutive pieces (about SEGMENT_BYTES) in order from a shared counter, one Range
 *   request per run (a request per piece costs the source a request per MiB);
 * - stream: the source ignores Range, so its 200 answer is cut into pieces as bytes arrive.
 * Every piece is hashed once as its bytes pass, written at its offset, and announced with
 * `onPieceCached` the moment it is on disk, so the swarm can use it before the file is done.
 * A failed read is resumed from the last good byte (readRangeResuming; `attempts` bounds the
 * reads without progress), the digest of the piece in progress carrying on; a source whose
 * validators change mid-download fails with DF_ERR_SOURCE_CHANGED.
 */
import type { FileHandle } from 'node:fs/promises'
import { DfError, isCode } from '../../protocol/errors.js'
import { createPieceHasher, finishPieceDigest, type PieceDigest } from '../../protocol/piece-digest.js'
import { pieceCount, rangeOfPiece } from '../../protocol/piece-range.js'
import { readRangeResuming } from '../../common/source/resumable-read.js'
import { isTransientSourceFailure, sourceTransportError } from '../../common/source/source-errors.js'
import { discardBody, type SourceReader, type SourceRead } from '../../common/source/source-reader.js'
import { hasVersionChanged, type SourceValidators } from '../../common/source/source-validators.js'

/** What is downloaded, and where to. */
export interface DownloadTarget {
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  /** Where each read (and each resumed read) goes, when that can change meanwhile (CdnTaskSpec.currentSource); default `url` and `headers`. */
  readonly currentSource?: (() => { readonly url: string, readonly headers: Readonly<Record<string, string>> }) | undefined
  /** The version the probe saw; every later answer must match it. */
  readonly validators: SourceValidators
  readonly file: FileHandle
}

export interface DownloadDeps {
  readonly reader: Pick<SourceReader, 'openRange'>
  /** A piece is written and hashed. `chunks` are the piece's bytes, as read (the caller may keep them: they are not reused). */
  readonly onPieceCached: (pieceNum: number, digest: PieceDigest, chunks: readonly Buffer[]) => void
  /** Source body bytes read (for the CDN download metric). */
  readonly onBytesRead: (bytes: number) => void
}

export interface DownloadOptions {
  readonly attempts: number
  readonly signal: AbortSignal
}

/** About this many bytes per ranged source request (whole pieces; fewer when the workers would run out of work). */
const SEGMENT_BYTES = 4 * 1024 * 1024

/** Fetches every piece with parallel ranged requests; resolves with the digests in piece order. */
export async function fillCacheRanged (target: DownloadTarget & { fileLengthBytes: number, pieceSizeBytes: number }, deps: DownloadDeps, options: DownloadOptions & { concurrency: number }): Promise<PieceDigest[]> {
  const count = pieceCount(target.fileLengthBytes, target.pieceSizeBytes)
  const digests = new Array<PieceDigest>(count)
  const siblings = new AbortController()
  const signal = AbortSignal.any([options.signal, siblings.signal])
  const workerCount = Math.max(1, Math.min(options.concurrency, count))
  const segmentPieces = workerCount === 1 ? count : Math.max(1, Math.min(Math.floor(SEGMENT_BYTES / target.pieceSizeBytes), Math.ceil(count / workerCount)))
  let next = 0
  const worker = async (): Promise<void> => {
    for (let first = next, last = Math.min(count, first + segmentPieces) - 1; first < count; first = next, last = Math.min(count, first + segmentPieces) - 1) {
      next = last + 1
      await fetchPieces(target, deps, first, last, { attempts: options.attempts, signal }, (pieceNum, digest, chunks) => {
        digests[pieceNum] = digest
        deps.onPieceCached(pieceNum, digest, chunks)
      })
    }
  }
  const workers = Array.from({ length: workerCount }, async () => {
    try {
      await worker()
    } catch (err) {
      siblings.abort(err)
      throw err
    }
  })
  const results = await Promise.allSettled(workers)
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failure !== undefined) throw failure.reason
  return digests
}

/**
 * Pieces `first`..`last` with one ranged read (resumed from the last good byte after a
 * failure), hashing and writing as bytes pass; each piece is announced with `onPiece` once
 * it is written.
 */
async function fetchPieces (target: DownloadTarget & { fileLengthBytes: number, pieceSizeBytes: number }, deps: DownloadDeps, first: number, last: number, options: DownloadOptions, onPiece: DownloadDeps['onPieceCached']): Promise<void> {
  const { fileLengthBytes, pieceSizeBytes } = target
  let pieceNum = first
  let pieceEnd = rangeOfPiece(pieceNum, pieceSizeBytes, fileLengthBytes).end
  let hasher = createPieceHasher()
  let pieceChunks: Buffer[] = []
  const startBytes = rangeOfPiece(first, pieceSizeBytes, fileLengthBytes).start
  const writer = new BatchedWriter(target.file, startBytes)
  try {
    const outcome = await readRangeResuming(deps.reader, {
      url: target.url,
      headers: target.headers,
      currentSource: target.currentSource,
      startBytes,
      endBytes: rangeOfPiece(last, pieceSizeBytes, fileLengthBytes).end,
      totalBytes: fileLengthBytes,
      validators: target.validators,
      attempts: options.attempts,
      signal: options.signal,
    }, async (chunk, offsetBytes) => {
      deps.onBytesRead(chunk.length)
      let buffer = chunk
      let offset = offsetBytes
      while (buffer.length > 0) {
        const take = Math.min(buffer.length, pieceEnd + 1 - offset)
        const part = take === buffer.length ? buffer : buffer.subarray(0, take)
        hasher.update(part)
        pieceChunks.push(part)
        offset += take
        buffer = buffer.subarray(take)
        await writer.add(part)
        if (offset > pieceEnd) {
          await writer.flush()
          onPiece(pieceNum, finishPieceDigest(hasher), pieceChunks)
          if (pieceNum === last) return
          pieceNum += 1
          pieceEnd = rangeOfPiece(pieceNum, pieceSizeBytes, fileLengthBytes).end
          hasher = createPieceHasher()
          pieceChunks = []
        }
      }
    })
    if (outcome === 'range-ignored') throw new DfError('DF_ERR_SOURCE_CHANGED', 'the source stopped serving ranges', { details: { status: 200 } })
  } finally {
    // Hashed bytes are written before anything else happens.
    await writer.flush()
  }
}

/**
 * Consumes a whole-file answer (200) sequentially, cutting it into pieces. With a known
 * length, each piece is hashed and announced as it completes and the digests are returned;
 * with an unknown length (no Content-Length) the bytes are only written and the length is
 * returned, and the caller hashes the file once it knows the piece size.
 */
export async function fillCacheFromStream (target: DownloadTarget & { fileLengthBytes: number | undefined, pieceSizeBytes: number | undefined }, first: SourceRead, deps: DownloadDeps, options: DownloadOptions): Promise<{ lengthBytes: number, digests: PieceDigest[] | undefined }> {
  const { fileLengthBytes: lengthBytes, pieceSizeBytes } = target
  const isHashing = lengthBytes !== undefined && pieceSizeBytes !== undefined
  const digests: PieceDigest[] = []
  let hasher = createPieceHasher()
  let pieceChunks: Buffer[] = []
  let offset = 0
  let read: SourceRead | undefined = first
  let lastError: unknown
  for (let attempt = 0; attempt < options.attempts; attempt++) {
    try {
      const source = target.currentSource?.() ?? target
      read ??= await deps.reader.openRange(source.url, source.headers, offset, undefined, options.signal)
      checkVersion(target.validators, read)
      // A 200 answer to a resume starts at byte 0: skip what is already written.
      let skipBytes = offset - read.startBytes
      const writer = new BatchedWriter(target.file, offset)
      try {
        for await (const chunk of read.body) {
          let buffer = chunk as Buffer
          deps.onBytesRead(buffer.length)
          if (skipBytes > 0) {
            const skipped = Math.min(skipBytes, buffer.length)
            skipBytes -= skipped
            buffer = buffer.subarray(skipped)
          }
          while (buffer.length > 0 && (lengthBytes === undefined || offset < lengthBytes)) {
            const pieceEnd = isHashing ? Math.min((digests.length + 1) * pieceSizeBytes, lengthBytes) : Number.POSITIVE_INFINITY
            const take = Math.min(buffer.length, pieceEnd - offset)
            const part = buffer.subarray(0, take)
            if (isHashing) {
              hasher.update(part)
              pieceChunks.push(part)
            }
            offset += take
            await writer.add(part)
            buffer = buffer.subarray(take)
            if (isHashing && offset === pieceEnd) {
              await writer.flush()
              const digest = finishPieceDigest(hasher)
              digests.push(digest)
              deps.onPieceCached(digests.length - 1, digest, pieceChunks)
              hasher = createPieceHasher()
              pieceChunks = []
            }
          }
        }
      } finally {
        await writer.flush()
      }
      if (lengthBytes === undefined) return { lengthBytes: offset, digests: undefined }
      if (offset >= lengthBytes) return { lengthBytes, digests }
      lastError = new DfError('DF_ERR_SOURCE_UNREACHABLE', `the source ended at byte ${offset} of ${lengthBytes}`)
    } catch (err) {
      if (read !== undefined) discardBody(read.body)
      if (options.signal.aborted || isCode(err, 'DF_ERR_CDN_IO')) throw err
      const mapped = sourceTransportError(err, target.url, options.signal)
      // Without a known length there is no way to tell a resumed stream from a changed one.
      if (lengthBytes === undefined || !isTransientSourceFailure(mapped)) throw mapped
      lastError = mapped
    }
    read = undefined
  }
  throw lastError
}

/** Hashes the pieces of a fully written cache file (the unknown-length case), announcing each. */
export async function hashCachedFile (file: FileHandle, lengthBytes: number, pieceSizeBytes: number, onPieceCached: (pieceNum: number, digest: PieceDigest) => void): Promise<PieceDigest[]> {
  const digests: PieceDigest[] = []
  const buffer = Buffer.allocUnsafe(Math.min(pieceSizeBytes, 1024 * 1024))
  for (let pieceNum = 0; pieceNum < pieceCount(lengthBytes, pieceSizeBytes); pieceNum++) {
    const range = rangeOfPiece(pieceNum, pieceSizeBytes, lengthBytes)
    const hasher = createPieceHasher()
    for (let position = range.start; position <= range.end;) {
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, range.end + 1 - position), position)
      if (bytesRead === 0) throw new DfError('DF_ERR_CDN_IO', 'cache file is shorter than written')
      hasher.update(buffer.subarray(0, bytesRead))
      position += bytesRead
    }
    const digest = finishPieceDigest(hasher)
    digests.push(digest)
    onPieceCached(pieceNum, digest)
  }
  return digests
}

function checkVersion (expected: SourceValidators, read: SourceRead): void {
  if (hasVersionChanged(expected, read.validators)) {
    discardBody(read.body)
    throw new DfError('DF_ERR_SOURCE_CHANGED', 'the source file changed during the download')
  }
}

/** Bytes gathered before one positional write: a source's 16-64 KiB reads, one system call per MiB. */
const WRITE_BATCH_BYTES = 1024 * 1024

/** Consecutive bytes of the cache file, written in batches (writev) from where they start. */
class BatchedWriter {
  readonly #file: FileHandle
  #position: number
  #chunks: Buffer[] = []
  #bytes = 0

  constructor (file: FileHandle, position: number) {
    this.#file = file
    this.#position = position
  }

  /** Adds the next bytes; writes when a batch is full. @throws DF_ERR_CDN_IO */
  async add (data: Buffer): Promise<void> {
    this.#chunks.push(data)
    this.#bytes += data.length
    if (this.#bytes >= WRITE_BATCH_BYTES) await this.flush()
  }

  /** Writes every byte added so far. @throws DF_ERR_CDN_IO */
  async flush (): Promise<void> {
    let chunks = this.#chunks
    this.#chunks = []
    this.#bytes = 0
    try {
      while (chunks.length > 0) {
        const { bytesWritten } = await this.#file.writev(chunks, this.#position)
        this.#position += bytesWritten
        chunks = dropBytes(chunks, bytesWritten)
      }
    } catch (err) {
      throw new DfError('DF_ERR_CDN_IO', 'cannot write the cache file', { cause: err })
    }
  }
}

/** `chunks` without their first `bytes` bytes (after a short write). */
function dropBytes (chunks: readonly Buffer[], bytes: number): Buffer[] {
  const rest: Buffer[] = []
  let skip = bytes
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length
      continue
    }
    rest.push(skip === 0 ? chunk : chunk.subarray(skip))
    skip = 0
  }
  return rest
}
