/**
 * ImageResolver: from an image's manifest URL (`http(s)://registry/v2/<name>/manifests/<ref>`)
 * to the blob URL and digest of every layer and config, the way a container engine walks
 * it: a Docker manifest list or an OCI index leads to one manifest per platform (attestation
 * manifests skipped), each manifest names its config and its layers. The config blob is
 * small but a pull fetches it as a blob too, so warming it leaves nothing cold. Registry token auth is handled (401 + Bearer
 * challenge → token endpoint → retry, registry-auth.ts); the headers a layer must be fetched
 * with (the token, or the caller's own credentials) come back with it. Every URL it asks —
 * manifests and the token endpoint a registry names — is read through the shared source
 * reader (common/source/source-reader.ts), as the CDN reads: redirects are followed (a
 * registry or a mirror may send a manifest elsewhere) up to the same limit, with the same
 * loop detection, credentials dropped when a hop leaves their origin, and the supernode's
 * source policy checked before every hop (a preheat must not reach what a registration may
 * not).
 */
import type { HttpClient } from '../../common/http/client.js'
import { createHttpSourceTransport, discardBody, SourceReader } from '../../common/source/source-reader.js'
import { sourceStatusError, sourceTransportError } from '../../common/source/source-errors.js'
import { redactUrl } from '../../common/http/redact-url.js'
import { DfError } from '../../protocol/errors.js'
import { isContentDigest } from '../../protocol/content-digest.js'
import type { SourcePolicy } from '../../common/source/source-policy.js'
import { parseAuthChallenge, tokenOf, tokenUrlOf } from './registry-auth.js'

/** One blob of an image to preheat. */
export interface ImageBlob {
  /** A layer, or the image's config. */
  readonly kind: 'layer' | 'config'
  /** "sha256:<hex>": identifies the task. */
  readonly digest: string
  readonly url: string
  /** Headers the blob GET needs (credentials): sent to the source only, never logged. */
  readonly headers: Readonly<Record<string, string>>
  /** The size the manifest declares (0 when it declares none). */
  readonly sizeBytes: number
}

/** Media types a manifest GET accepts, newest first. */
export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
].join(', ')

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
const MAX_INDEX_DEPTH = 2

interface ImageRef { readonly baseUrl: string, readonly name: string, readonly reference: string }

export class ImageResolver {
  readonly #reader: SourceReader

  constructor (deps: { http: Pick<HttpClient, 'stream'>, policy?: Pick<SourcePolicy, 'check'> }) {
    const policy = deps.policy
    this.#reader = new SourceReader({ transport: createHttpSourceTransport(deps.http), ...(policy === undefined ? {} : { check: async (url: string) => { await policy.check(url) } }) })
  }

  /**
   * Every layer and config of the image (of every platform of a multi-platform image), each
   * digest once, layers of a manifest before its config.
   * @throws DF_ERR_SOURCE_MANIFEST_INVALID, DF_ERR_SOURCE_STATUS, DF_ERR_SOURCE_FORBIDDEN, DF_ERR_SOURCE_UNREACHABLE,
   *   DF_ERR_SOURCE_REDIRECT_LOOP, DF_ERR_SOURCE_TOO_MANY_REDIRECTS
   */
  async resolveBlobs (manifestUrl: string, headers: Readonly<Record<string, string>>, signal?: AbortSignal): Promise<ImageBlob[]> {
    const ref = parseManifestUrl(manifestUrl)
    const session = { headers: { ...headers } }
    const blobs = new Map<string, ImageBlob>()
    const add = (kind: ImageBlob['kind'], entry: unknown, url: string): void => {
      const digest = digestOf(entry, url)
      const size = typeof entry === 'object' && entry !== null && typeof (entry as { size?: unknown }).size === 'number' ? (entry as { size: number }).size : 0
      if (!blobs.has(digest)) blobs.set(digest, { kind, digest, url: `${ref.baseUrl}/v2/${ref.name}/blobs/${digest}`, headers: session.headers, sizeBytes: size })
    }
    const visit = async (reference: string, depth: number): Promise<void> => {
      const url = `${ref.baseUrl}/v2/${ref.name}/manifests/${reference}`
      const manifest = await this.#fetchManifest(url, session, ref, signal)
      const children = manifest.manifests
      if (Array.isArray(children)) {
        if (depth >= MAX_INDEX_DEPTH) throw manifestError(url, 'nests indexes too deep')
        const platforms = children.filter((child) => !isAttestation(child)).map((child) => digestOf(child, url))
        if (platforms.length === 0) throw manifestError(url, 'lists no manifest')
        for (const digest of platforms) await visit(digest, depth + 1)
        return
      }
      const entries = Array.isArray(manifest.layers) ? manifest.layers : Array.isArray(manifest.fsLayers) ? manifest.fsLayers : undefined
      if (entries === undefined) throw manifestError(url, 'has neither layers nor manifests')
      for (const entry of entries) add('layer', entry, url)
      if (manifest.config !== undefined) add('config', manifest.config, url)
    }
    await visit(ref.reference, 0)
    // Every blob gets the headers of the end of the walk (a token fetched part-way covers all).
    return [...blobs.values()].map((blob) => ({ ...blob, headers: { ...session.headers } }))
  }

  async #fetchManifest (url: string, session: { headers: Record<string, string> }, ref: ImageRef, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    let response = await this.#get(url, session.headers, signal)
    if (response.status === 401) {
      const challenge = parseAuthChallenge(headerText(response.headers['www-authenticate']))
      const tokenUrl = challenge === undefined ? undefined : tokenUrlOf(challenge, `repository:${ref.name}:pull`)
      if (tokenUrl === undefined) throw new DfError('DF_ERR_SOURCE_STATUS', `GET ${redactUrl(url)}: HTTP 401 (no usable Bearer challenge; pass credentials in headers)`, { details: { status: 401 } })
      session.headers.authorization = `Bearer ${await this.#fetchToken(tokenUrl, session.headers, signal)}`
      response = await this.#get(url, session.headers, signal)
      if (response.status === 401) throw new DfError('DF_ERR_SOURCE_STATUS', `GET ${redactUrl(url)}: HTTP 401 with the registry's token`, { details: { status: 401 } })
    }
    let parsed: unknown
    try { parsed = JSON.parse(response.text) } catch (err) { throw manifestError(url, 'is not JSON', err) }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw manifestError(url, 'is not a JSON object')
    return parsed as Record<string, unknown> // an object; its fields are checked where read
  }

  async #fetchToken (tokenUrl: string, headers: Readonly<Record<string, string>>, signal: AbortSignal | undefined): Promise<string> {
    // The caller's Basic credentials (if any) go to the token endpoint, not a stale Bearer.
    const auth = headers.authorization ?? headers.Authorization
    const tokenHeaders = auth !== undefined && /^basic /i.test(auth) ? { authorization: auth } : {}
    const response = await this.#get(tokenUrl, tokenHeaders, signal, 'application/json')
    if (response.status !== 200) throw new DfError('DF_ERR_SOURCE_STATUS', `token endpoint ${redactUrl(tokenUrl)}: HTTP ${response.status}`, { details: { status: response.status } })
    let body: unknown
    try { body = JSON.parse(response.text) } catch { body = undefined }
    const token = tokenOf(body)
    if (token === undefined) throw new DfError('DF_ERR_SOURCE_STATUS', `token endpoint ${redactUrl(tokenUrl)}: no token in the answer`, { details: { status: response.status } })
    return token
  }

  async #get (url: string, headers: Readonly<Record<string, string>>, signal: AbortSignal | undefined, accept = MANIFEST_ACCEPT): Promise<{ status: number, headers: Readonly<Record<string, string | string[] | undefined>>, text: string }> {
    const response = await this.#reader.open({ method: 'GET', url, headers: { ...headers, accept }, signal })
    if (response.status !== 401 && (response.status < 200 || response.status >= 300)) {
      discardBody(response.body)
      throw sourceStatusError(response.status, response.url)
    }
    const chunks: Buffer[] = []
    let length = 0
    try {
      for await (const chunk of response.body) {
        const buffer = chunk as Buffer
        length += buffer.length
        if (length > MAX_MANIFEST_BYTES) {
          discardBody(response.body)
          throw manifestError(url, `is larger than ${MAX_MANIFEST_BYTES} bytes`)
        }
        chunks.push(buffer)
      }
    } catch (err) {
      throw sourceTransportError(err, response.url, signal)
    }
    return { status: response.status, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }
  }
}

/** Splits a manifest URL into registry base URL, repository name and reference. @throws DF_ERR_SOURCE_MANIFEST_INVALID */
export function parseManifestUrl (manifestUrl: string): ImageRef {
  let url: URL
  try { url = new URL(manifestUrl) } catch (err) { throw manifestError(manifestUrl, 'is not a URL', err) }
  const match = /^(.*?)\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname)
  if (match === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw manifestError(manifestUrl, 'is not an http(s) URL of the form /v2/<name>/manifests/<reference>')
  return { baseUrl: `${url.origin}${match[1] ?? ''}`, name: match[2] ?? '', reference: match[3] ?? '' }
}

function isAttestation (entry: unknown): boolean {
  if (typeof entry !== 'object' || entry === null) return false
  const annotations = (entry as { annotations?: unknown }).annotations
  return typeof annotations === 'object' && annotations !== null && (annotations as Record<string, unknown>)['vnd.docker.reference.type'] === 'attestation-manifest'
}

function digestOf (entry: unknown, url: string): string {
  const record = typeof entry === 'object' && entry !== null ? entry as { digest?: unknown, blobSum?: unknown } : {}
  const digest = record.digest ?? record.blobSum
  if (!isContentDigest(digest)) throw manifestError(url, `names a digest that is not sha256:<64 hex> (${JSON.stringify(digest)})`)
  return digest
}

function headerText (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function manifestError (url: string, problem: string, cause?: unknown): DfError {
  return new DfError('DF_ERR_SOURCE_MANIFEST_INVALID', `manifest ${redactUrl(url)} ${problem}`, { ...(cause === undefined ? {} : { cause }), details: { url: redactUrl(url) } })
}
