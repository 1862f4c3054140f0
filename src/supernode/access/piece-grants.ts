/**
 * PieceGrants: the supernode's side of piece grants (protocol/piece-grant.ts). It holds the
 * deployment's Ed25519 signing key, issues the grant of each pull answer that hands out
 * pieces (scoped to the task and the requesting peer and cid, valid `lifetimeMs`), and
 * verifies grants on its own download port.
 *
 * The key lives in a PEM file (`grantKeyFile`, default `<homeDir>/grant-key.pem`), created
 * with mode 0600 on first start: a restart keeps it, so grants handed out just before stay
 * good, and several supernodes of one fleet can share one file (each peer server then
 * trusts all of them for a task). The private key never leaves this object: not in logs,
 * metrics or answers; only its public half is handed out.
 *
 * A grant is reused for the same task and cid until half its lifetime is gone, so a busy
 * pull loop costs one signature per half-lifetime, not one per answer.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import type { Clock } from '../../common/clock.js'
import { DfError } from '../../protocol/errors.js'
import type { ClientId, PeerId, TaskId } from '../../protocol/ids.js'
import { formatGrantKey, generateGrantKeyPair, grantRefusalReasonOf, signPieceGrant, verifyPieceGrant, type GrantRefusalReason } from '../../protocol/piece-grant.js'

export interface PieceGrantsOptions {
  /** How long a grant opens its task's pieces. */
  readonly lifetimeMs: number
}

interface Signer { readonly privateKey: KeyObject, readonly publicKey: KeyObject, readonly publicKeyText: string }

/** Grants kept for reuse; past this many the oldest half is dropped. */
const MAX_CACHED_GRANTS = 65_536

export interface PieceGrantsDeps {
  readonly clock: Clock
  /** Told of every refused grant, with why (the supernode counts them: metrics.ts). */
  readonly onRefused?: (reason: GrantRefusalReason) => void
}

export class PieceGrants {
  readonly #clock: Clock
  readonly #onRefused: ((reason: GrantRefusalReason) => void) | undefined
  readonly #options: PieceGrantsOptions
  readonly #issued = new Map<string, { readonly grant: string, readonly renewAtMs: number }>()
  #signer: Signer | undefined

  constructor (deps: PieceGrantsDeps, options: PieceGrantsOptions) {
    this.#clock = deps.clock
    this.#onRefused = deps.onRefused
    this.#options = options
  }

  /**
   * Loads the signing key from `path`, creating the file (mode 0600) with a new key when
   * there is none. @throws DF_ERR_CONFIG_INVALID (not an Ed25519 private key), fs errors
   */
  async load (path: string): Promise<void> {
    let pem = await readFile(path, 'utf8').catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    })
    if (pem === undefined) pem = await createKeyFile(path)
    let privateKey: KeyObject
    try {
      privateKey = createPrivateKey(pem)
    } catch (err) {
      throw new DfError('DF_ERR_CONFIG_INVALID', `grantKeyFile: ${path} is not a PEM private key`, { cause: err, details: { field: 'grantKeyFile' } })
    }
    if (privateKey.asymmetricKeyType !== 'ed25519') throw new DfError('DF_ERR_CONFIG_INVALID', `grantKeyFile: ${path} is not an Ed25519 key`, { details: { field: 'grantKeyFile' } })
    this.#signer = { privateKey, publicKey: privateKey, publicKeyText: formatGrantKey(privateKey) }
  }

  /** The public key peers verify grants with (wire form). */
  get publicKeyText (): string {
    return this.#mustGetSigner().publicKeyText
  }

  /** The grant for `cid` of `peerId` to read the pieces of `taskId`. */
  issue (taskId: TaskId, peerId: PeerId, cid: ClientId): string {
    const now = this.#clock.now()
    const key = `${taskId}/${peerId}/${cid}`
    const kept = this.#issued.get(key)
    if (kept !== undefined && now < kept.renewAtMs) return kept.grant
    const lifetimeMs = this.#options.lifetimeMs
    const grant = signPieceGrant({ taskId, peerId, cid, expiresAtMs: now + lifetimeMs }, this.#mustGetSigner().privateKey)
    if (this.#issued.size >= MAX_CACHED_GRANTS) this.#dropOldest(MAX_CACHED_GRANTS / 2)
    this.#issued.delete(key)
    this.#issued.set(key, { grant, renewAtMs: now + lifetimeMs / 2 })
    return grant
  }

  /** @throws DF_ERR_PIECE_GRANT_REQUIRED, DF_ERR_PIECE_GRANT_INVALID (protocol/piece-grant.ts) */
  verify (header: string | string[] | undefined, taskId: TaskId): void {
    const publicKey = this.#mustGetSigner().publicKey
    try {
      verifyPieceGrant(header, [publicKey], taskId, this.#clock.now())
    } catch (err) {
      const reason = grantRefusalReasonOf(err)
      if (reason !== undefined) this.#onRefused?.(reason)
      throw err
    }
  }

  #dropOldest (count: number): void {
    let dropped = 0
    for (const key of this.#issued.keys()) {
      if (dropped++ >= count) break
      this.#issued.delete(key)
    }
  }

  #mustGetSigner (): Signer {
    if (this.#signer === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', 'the grant key is not loaded (start the supernode first)')
    return this.#signer
  }
}

/** Writes a new key to `path` unless another process just did; returns the file's PEM. */
async function createKeyFile (path: string): Promise<string> {
  const pem = generateGrantKeyPair().privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  let handle
  try {
    handle = await open(path, 'wx', 0o600)
  } catch (err) {
    // Another supernode sharing the file created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await readFile(path, 'utf8')
    throw err
  }
  try {
    await handle.writeFile(pem)
    await handle.sync()
  } finally {
    await handle.close()
  }
  return pem
}
