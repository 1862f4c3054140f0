/**
 * DigestPool: sha256 of byte chunks on worker threads, so a process that receives data at
 * loopback speed hashes on the other core while its event loop goes on receiving and
 * writing. Chunks are copied to the worker (structured clone, a memcpy), which costs far
 * less than hashing them on the event loop. With `threads: 0` it hashes in place; with
 * `inPlaceBytesPerSec`, it also hashes in place until more than that many bytes came within
 * one second: a worker costs ~50 ms of CPU to start, more than hashing a download that
 * arrives over a network link (100 Mbit/s: ~6 ms of sha256 per second), and when many hosts
 * start at once on few cores that start-up is what they wait for.
 * Workers never keep the process alive; `close()` ends them.
 */
import { Worker } from 'node:worker_threads'
import { createHash } from 'node:crypto'

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
parentPort.on('message', ({ id, chunks }) => {
  const hash = createHash('sha256')
  for (const chunk of chunks) hash.update(chunk)
  parentPort.postMessage({ id, hex: hash.digest('hex') })
})
`

interface Job { resolve: (hex: string) => void, reject: (err: Error) => void }

export class DigestPool {
  readonly #threads: number
  readonly #inPlaceBytesPerSec: number
  readonly #now: () => number
  /** Bytes hashed in place in the current one-second window, and when it began. */
  #windowBytes = 0
  #windowStartMs = Number.NEGATIVE_INFINITY
  #workers: { worker: Worker, inFlight: number }[] = []
  readonly #jobs = new Map<number, Job>()
  #nextId = 0
  #closed = false

  constructor (options: { threads: number, inPlaceBytesPerSec?: number, now?: () => number }) {
    if (!Number.isInteger(options.threads) || options.threads < 0) throw new RangeError('threads must be an integer >= 0')
    this.#threads = options.threads
    this.#inPlaceBytesPerSec = options.inPlaceBytesPerSec ?? 0
    this.#now = options.now ?? (() => performance.now())
  }

  /** Workers started so far. */
  get workerCount (): number {
    return this.#workers.length
  }

  /**
   * Hex sha256 of the chunks, in order. `inPlace` hashes on the calling thread: for memory
   * the caller keeps (a worker holds what it was sent until its own garbage collection).
   */
  async sha256Hex (chunks: readonly Uint8Array[], options: { inPlace?: boolean } = {}): Promise<string> {
    if (this.#threads === 0 || this.#closed || options.inPlace === true) return hashHere(chunks)
    if (this.#workers.length === 0 && this.#isSlowEnough(chunks)) return hashHere(chunks)
    const slot = this.#pickWorker()
    const id = this.#nextId++
    slot.inFlight += 1
    return await new Promise<string>((resolve, reject) => {
      this.#jobs.set(id, {
        resolve: (hex) => { slot.inFlight -= 1; resolve(hex) },
        reject: (err) => { slot.inFlight -= 1; reject(err) },
      })
      slot.worker.postMessage({ id, chunks })
    })
  }

  /** Ends the workers; pending jobs fail. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const workers = this.#workers
    this.#workers = []
    for (const job of this.#jobs.values()) job.reject(new Error('digest pool closed'))
    this.#jobs.clear()
    await Promise.all(workers.map(async ({ worker }) => { await worker.terminate() }))
  }

  /** Counts `chunks` in the current second; true while that second stays within `inPlaceBytesPerSec`. */
  #isSlowEnough (chunks: readonly Uint8Array[]): boolean {
    const now = this.#now()
    if (now - this.#windowStartMs >= 1000) {
      this.#windowStartMs = now
      this.#windowBytes = 0
    }
    for (const chunk of chunks) this.#windowBytes += chunk.byteLength
    return this.#windowBytes <= this.#inPlaceBytesPerSec
  }

  #pickWorker (): { worker: Worker, inFlight: number } {
    const idle = this.#workers.find((w) => w.inFlight === 0)
    if (idle !== undefined) return idle
    if (this.#workers.length < this.#threads) {
      const worker = new Worker(WORKER_SOURCE, { eval: true })
      worker.unref()
      worker.on('message', ({ id, hex }: { id: number, hex: string }) => {
        const job = this.#jobs.get(id)
        this.#jobs.delete(id)
        job?.resolve(hex)
      })
      worker.on('error', (err) => {
        for (const job of this.#jobs.values()) job.reject(err)
        this.#jobs.clear()
        this.#workers = this.#workers.filter((w) => w.worker !== worker)
      })
      const slot = { worker, inFlight: 0 }
      this.#workers.push(slot)
      return slot
    }
    return this.#workers.reduce((a, b) => (b.inFlight < a.inFlight ? b : a))
  }
}

function hashHere (chunks: readonly Uint8Array[]): string {
  const hash = createHash('sha256')
  for (const chunk of chunks) hash.update(chunk)
  return hash.digest('hex')
}
