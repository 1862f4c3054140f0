/**
 * Where a download's bytes came from: the source (back-source), the supernode (its CDN
 * cache) and other peers. Owned by the dfget run; the downloaders add to it, the progress
 * bar and the summary line read it.
 */
export class TransferStats {
  #bytesFromSource = 0
  #bytesFromSupernode = 0
  #bytesFromPeers = 0
  /** The file's length once known (for progress). */
  expectedLengthBytes: number | undefined

  addFromSource (bytes: number): void {
    this.#bytesFromSource += bytes
  }

  addFromSupernode (bytes: number): void {
    this.#bytesFromSupernode += bytes
  }

  addFromPeers (bytes: number): void {
    this.#bytesFromPeers += bytes
  }

  get bytesFromSource (): number {
    return this.#bytesFromSource
  }

  get bytesFromSupernode (): number {
    return this.#bytesFromSupernode
  }

  get bytesFromPeers (): number {
    return this.#bytesFromPeers
  }

  get totalBytes (): number {
    return this.#bytesFromSource + this.#bytesFromSupernode + this.#bytesFromPeers
  }
}
