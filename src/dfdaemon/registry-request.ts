/**
 * What dfdaemon knows about the OCI distribution API: which paths are blob downloads (whose
 * digest then identifies the swarm task), and which upstream a registry-mirror request
 * (`/v2/...` sent to dfdaemon itself) is for: containerd names it in the `ns=` query
 * parameter; Docker and skopeo send nothing, so the configured `--registry` is used.
 * Pure functions, no I/O.
 */
import { DfError } from '../protocol/errors.js'

/** A blob GET of the distribution API. */
export interface BlobReference {
  /** Repository name ("library/busybox"). */
  readonly repository: string
  /** "sha256:<64 hex>", the blob's content digest. */
  readonly digest: string
}

const BLOB_PATH = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/

/** The blob named by a URL path, or undefined when it is not a sha256 blob path. */
export function parseBlobPath (pathname: string): BlobReference | undefined {
  const match = BLOB_PATH.exec(pathname)
  if (match === null) return undefined
  return { repository: match[1] ?? '', digest: match[2] ?? '' }
}

const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/

/** Media types of one image's manifest (not of a list or index: those name other manifests). */
const IMAGE_MANIFEST_TYPES = new Set(['application/vnd.docker.distribution.manifest.v2+json', 'application/vnd.oci.image.manifest.v1+json'])

/** True for a manifest path of the distribution API (`/v2/<name>/manifests/<reference>`). */
export function isManifestPath (pathname: string): boolean {
  return MANIFEST_PATH.test(pathname)
}

/** True when a Content-Type names one image's manifest (Docker v2 schema 2 or OCI). */
export function isImageManifestType (contentType: string | undefined): boolean {
  return contentType !== undefined && IMAGE_MANIFEST_TYPES.has(contentType.split(';')[0]?.trim().toLowerCase() ?? '')
}

/** True for paths of the distribution API (`/v2` and below). */
export function isRegistryPath (pathname: string): boolean {
  return pathname === '/v2' || pathname.startsWith('/v2/')
}

/** Upstream of `docker.io` names. */
const DOCKER_HUB_REGISTRY = 'https://registry-1.docker.io'

/** How to find the upstream of a mirror request. */
export interface MirrorUpstreamOptions {
  /** `--registry`: the upstream when there is no `ns=` (and the scheme of a matching `ns=`). */
  readonly registryUrl: URL | undefined
  /** Scheme for an `ns=` host that is not the configured registry. */
  readonly nsScheme: 'http' | 'https'
}

/**
 * The upstream URL of a mirror request whose target is `pathAndQuery` (origin-form). The
 * `ns=` parameter is consumed (not sent upstream).
 * @throws DF_ERR_PROXY_NO_UPSTREAM when there is neither `ns=` nor a registry
 * @throws DF_ERR_PROXY_BAD_REQUEST when `ns=` is not a host[:port]
 */
export function resolveMirrorUpstream (pathAndQuery: string, options: MirrorUpstreamOptions): URL {
  const request = new URL(pathAndQuery, 'http://mirror.invalid')
  const ns = request.searchParams.get('ns')
  request.searchParams.delete('ns')
  let base: URL
  if (ns !== null && ns !== '') {
    // The pattern admits ports up to 99999 and any bracketed text; the URL parser decides the rest.
    if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9a-fA-F:.]+\](?::\d{1,5})?$/.test(ns) || !URL.canParse(`${options.nsScheme}://${ns}`)) {
      throw new DfError('DF_ERR_PROXY_BAD_REQUEST', `ns: not a registry host: ${JSON.stringify(ns.slice(0, 100))}`, { details: { field: 'ns' } })
    }
    if (options.registryUrl !== undefined && options.registryUrl.host === ns) base = options.registryUrl
    else if (ns === 'docker.io') base = new URL(DOCKER_HUB_REGISTRY)
    else base = new URL(`${options.nsScheme}://${ns}`)
  } else if (options.registryUrl !== undefined) {
    base = options.registryUrl
  } else {
    throw new DfError('DF_ERR_PROXY_NO_UPSTREAM', 'registry-mirror request without ns= and no --registry configured')
  }
  const prefix = base.pathname.replace(/\/+$/, '')
  return new URL(`${base.origin}${prefix}${request.pathname}${request.search}`)
}
