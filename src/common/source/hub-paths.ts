/**
 * The URL shapes of a Hugging Face Hub (huggingface.co, a mirror, or anything that serves
 * the Hub's HTTP API), shared by dfget's `hf://` source and dfdaemon's Hub endpoint. Pure
 * functions, no I/O.
 *
 * - A repository is `owner/name` of a type: models live at the root (`/{owner}/{name}`),
 *   datasets and spaces under `/datasets/` and `/spaces/`, as the Hub client names them.
 * - Its file list at a revision: `GET /api/{type}s/{owner}/{name}/revision/{revision}`
 *   (the revision percent-encoded as one segment; `?blobs=true` adds sizes and LFS data).
 * - A file: `/{prefix}{owner}/{name}/resolve/{revision}/{path}`. For a large (LFS) file the
 *   Hub answers with a redirect to its LFS storage, stating the file's sha256 in
 *   `X-Linked-Etag` and its length in `X-Linked-Size`; every answer names the commit in
 *   `X-Repo-Commit`.
 */

/** The kinds of repository on a Hub. */
export const HUB_REPO_TYPES = ['model', 'dataset', 'space'] as const
export type HubRepoType = typeof HUB_REPO_TYPES[number]

/** A repository on a Hub. */
export interface HubRepo {
  readonly type: HubRepoType
  /** "owner/name". */
  readonly id: string
}

/** A file of a repository at a revision, as named by a `/resolve/` URL. */
export interface HubFileRef {
  readonly repo: HubRepo
  /** A branch, tag or commit, decoded. */
  readonly revision: string
  /** The file's path in the repository ("/"-separated, decoded). */
  readonly path: string
}

/** The endpoint the Hub client uses when HF_ENDPOINT is not set. */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co'

/** A commit id: 40 lowercase hex digits. */
export const HUB_COMMIT_PATTERN = /^[0-9a-f]{40}$/

/** One segment of an owner or repository name. */
const NAME_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/

/** True for "owner/name" whose parts are valid Hub names. */
export function isHubRepoId (id: string): boolean {
  const parts = id.split('/')
  return parts.length === 2 && parts.every((part) => NAME_SEGMENT.test(part) && !part.includes('..'))
}

/** The path prefix of a repository type: "" for models, "datasets/", "spaces/". */
export function hubRepoPrefix (type: HubRepoType): string {
  return type === 'model' ? '' : `${type}s/`
}

/** The API URL of a repository's file list at `revision` (with sizes and LFS data). */
export function hubRevisionApiUrl (endpoint: string, repo: HubRepo, revision: string): string {
  return `${trimSlash(endpoint)}/api/${repo.type}s/${repo.id}/revision/${encodeURIComponent(revision)}?blobs=true`
}

/** The `/resolve/` URL of a file (the revision one segment, the path's segments each encoded). */
export function hubResolveUrl (endpoint: string, file: HubFileRef): string {
  const path = file.path.split('/').map(encodeURIComponent).join('/')
  return `${trimSlash(endpoint)}/${hubRepoPrefix(file.repo.type)}${file.repo.id}/resolve/${encodeURIComponent(file.revision)}/${path}`
}

const RESOLVE_PATH = /^\/(?:(datasets|spaces)\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/

/**
 * The file a `/resolve/` URL path names (below the endpoint's own path), or undefined when
 * the path is not a file of a repository. A revision with slashes (`refs/pr/1`) is sent
 * percent-encoded by the Hub client, as one segment.
 */
export function parseHubResolvePath (pathname: string): HubFileRef | undefined {
  const match = RESOLVE_PATH.exec(pathname)
  if (match === null) return undefined
  try {
    const type: HubRepoType = match[1] === 'datasets' ? 'dataset' : match[1] === 'spaces' ? 'space' : 'model'
    const id = decodeURIComponent(match[2] ?? '')
    const revision = decodeURIComponent(match[3] ?? '')
    const path = (match[4] ?? '').split('/').map(decodeURIComponent).join('/')
    if (!isHubRepoId(id) || revision === '' || path.split('/').some((part) => part === '' || part === '.' || part === '..')) return undefined
    return { repo: { type, id }, revision, path }
  } catch {
    return undefined
  }
}

/** The sha256 an `X-Linked-Etag` states ("sha256:<hex>"), or undefined for a git blob id or none. */
export function linkedSha256Of (value: string | string[] | undefined): string | undefined {
  const text = Array.isArray(value) ? value[0] : value
  const match = /^(?:W\/)?"?([0-9a-fA-F]{64})"?$/.exec(text?.trim() ?? '')
  return match?.[1] === undefined ? undefined : `sha256:${match[1].toLowerCase()}`
}

function trimSlash (endpoint: string): string {
  return endpoint.replace(/\/+$/, '')
}
