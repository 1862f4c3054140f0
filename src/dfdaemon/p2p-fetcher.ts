/**
 * The seam between the proxy and the swarm: "fetch this file through the swarm, as a stream
 * of its bytes in order". The proxy knows nothing else about dfget; dfdaemon uses
 * dfget-stream-fetcher.ts (dfget's stream mode: bytes flow as pieces arrive, nothing on
 * disk).
 */
import type { Readable } from 'node:stream'

/** One swarm download. */
export interface P2pFetchRequest {
  /** Where the swarm (the supernode's CDN, or a back-sourcing peer) fetches the file. */
  readonly url: string
  /** Headers sent to the source (may hold the engine's credentials: never log them). */
  readonly headers: Readonly<Record<string, string>>
  /** "sha256:<hex>" when the content digest is known: it alone identifies the task. The caller checks every byte against it; the fetcher need not. */
  readonly digest?: string
  /** Aborts the download (the engine went away). */
  readonly signal: AbortSignal
}

/** The file's bytes as they arrive. */
export interface P2pStream {
  /** File length when known before the first byte. */
  readonly lengthBytes: number | undefined
  /**
   * The bytes, in order, from offset 0. Errors (DfError) when the swarm fails part-way; the
   * caller may then continue from the source at the offset reached.
   */
  readonly body: Readable
}

/** Fetches files through the swarm. */
export interface P2pFetcher {
  /**
   * Starts a swarm download and resolves once bytes can be read.
   * @throws DfError when the swarm cannot deliver the file (the caller falls back to the source)
   */
  fetch(request: P2pFetchRequest): Promise<P2pStream>
  /** Prepares what every fetch needs (this host's peer server), before the first one. @throws DfError */
  start?(): Promise<void>
  /**
   * An image manifest passed through (`manifest`: its bytes, when kept): have the swarm
   * fetch its layers ahead of the engine's blob requests (best effort, never throws).
   */
  prefetchImage?(manifestUrl: string, authorization: string | undefined, manifest?: Buffer): void
  /** Stops every download and releases what the fetcher opened. Idempotent. */
  close(): Promise<void>
}
