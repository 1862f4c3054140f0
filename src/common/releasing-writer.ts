/**
 * releasingWriter: a Writable onto a socket or an HTTP response that hands a pooled chunk (one
 * that came with a reader's hold, see holdForReader in buffer-pool.ts) back to its pool once
 * the target wrote it out, so a stream's pieces are reused instead of page-faulted in anew
 * (first-touch memory is slow on these machines). It keeps the target's back-pressure (it
 * does not wait for each write to be flushed, only for 'drain'). A chunk the target never
 * wrote out (it closed first) is released when its write callback fails, or left to the
 * garbage collector: never handed out again while a write still reads it.
 */
import { Writable } from 'node:stream'
import { isHeldForReader, releaseWritten } from './buffer-pool.js'

export interface ReleasingWriterOptions {
  /** Bytes written before each chunk, in the same flush (a frame header). */
  readonly prefix?: (chunk: Buffer) => Buffer
  /** Ending this stream ends the target (an HTTP response); default false (the caller ends it). */
  readonly endTarget?: boolean
  /** Each chunk that is not pooled (its bytes become garbage once written): counted for a collector. */
  readonly onUnpooled?: (bytes: number) => void
  /** The error of a write after the target went away. */
  readonly gone: () => Error
}

export function releasingWriter (target: Writable, options: ReleasingWriterOptions): Writable {
  const { prefix, gone } = options
  const writer = new Writable({
    write (chunk: Buffer, _encoding, callback) {
      if (!isHeldForReader(chunk)) options.onUnpooled?.(chunk.length)
      if (target.destroyed) {
        releaseWritten(chunk)
        callback(gone())
        return
      }
      let flushed: boolean
      if (prefix === undefined) {
        flushed = target.write(chunk, () => { releaseWritten(chunk) })
      } else {
        target.cork()
        target.write(prefix(chunk))
        flushed = target.write(chunk, () => { releaseWritten(chunk) })
        target.uncork()
      }
      if (flushed) { callback(); return }
      const done = (): void => {
        target.off('drain', done)
        target.off('close', done)
        callback(target.destroyed && !target.writableFinished ? gone() : undefined)
      }
      target.on('drain', done)
      target.on('close', done)
    },
    final (callback) {
      if (options.endTarget !== true) { callback(); return }
      if (target.destroyed) { callback(gone()); return }
      target.end(() => { callback() })
    },
  })
  if (options.endTarget === true) {
    // The target closing before its end (the client went away) fails this stream, so a
    // pipeline into it stops instead of waiting for a 'drain' that never comes.
    target.once('close', () => { if (!target.writableFinished && !writer.destroyed) writer.destroy(gone()) })
  }
  return writer
}
