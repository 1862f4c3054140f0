/**
 * sendFileRange: writes bytes `range` of a file to an HTTP response through two buffers of
 * a BufferPool, read into and written out in turn (the next read overlaps the previous
 * write). A buffer is read into again only after the socket took the bytes written from it,
 * so no memory is allocated per chunk: a file stream (fs.createReadStream) allocates a new
 * buffer for every chunk, and on these machines the first touch of that memory cost more
 * CPU than the copy itself.
 *
 * Used by every server of piece bytes: the supernode's download port and the peer servers.
 */
import { open, type FileHandle } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import type { BufferPool } from '../buffer-pool.js'
import type { ByteRange } from '../../protocol/piece-range.js'

export interface SendFileRangeOptions {
  readonly pool: BufferPool
  /** Bytes per read. Default 512 KiB. */
  readonly chunkBytes?: number
  /** Waits before each chunk is written (an upload rate limit). */
  readonly beforeWrite?: (bytes: number) => Promise<void>
}

/**
 * Sends the range (headers must have been written) and ends the response; resolves with
 * the bytes the socket took. A read failure or a closed connection destroys the response.
 */
export async function sendFileRange (res: ServerResponse, file: string | FileHandle, range: ByteRange, options: SendFileRangeOptions): Promise<number> {
  const chunkBytes = options.chunkBytes ?? 512 * 1024
  const handle = typeof file === 'string' ? await open(file, 'r') : file
  const total = range.end - range.start + 1
  const buffers = [options.pool.acquire(Math.min(chunkBytes, total)), options.pool.acquire(Math.min(chunkBytes, total))]
  /** Per buffer: resolves once the socket took what was written from it. */
  const flushed: Promise<void>[] = [Promise.resolve(), Promise.resolve()]
  let sent = 0
  let closed = false
  let onClose = (): void => {}
  // A write still queued when the connection closes may never call back: nothing waits past the close.
  const whenClosed = new Promise<void>((resolve) => { onClose = () => { closed = true; resolve() } })
  res.once('close', onClose)
  try {
    let position = range.start
    for (let i = 0; position <= range.end && !closed; i = 1 - i) {
      const buffer = buffers[i] as Buffer
      await Promise.race([flushed[i], whenClosed])
      if (closed) break
      const want = Math.min(buffer.length, range.end - position + 1)
      const { bytesRead } = await handle.read(buffer, 0, want, position)
      if (bytesRead === 0) throw new Error(`the file ended at ${position}, before ${range.end + 1}`)
      await options.beforeWrite?.(bytesRead)
      if (closed) break
      position += bytesRead
      flushed[i] = new Promise<void>((resolve) => {
        res.write(buffer.subarray(0, bytesRead), (err) => { if (err == null) sent += bytesRead; resolve() })
      })
      // Backpressure: both buffers in flight means waiting on the older one (next turn).
    }
    await Promise.race([Promise.all(flushed), whenClosed])
    if (!closed) res.end()
  } catch (err) {
    closed = true
    res.destroy(err as Error)
  } finally {
    res.off('close', onClose)
    // Buffers whose writes may still be queued on a closed connection are left to the garbage collector.
    if (!closed) for (const buffer of buffers) options.pool.release(buffer)
    if (typeof file === 'string') await handle.close()
  }
  return sent
}
