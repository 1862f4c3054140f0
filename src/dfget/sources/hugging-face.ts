/**
 * `hf://owner/repo[@revision][/path]` (docs/dfget.md, "Hugging Face"): one file or a whole
 * repository of a Hugging Face Hub, a model by default, a dataset or a space with
 * `hf://datasets/…` and `hf://spaces/…` as the Hub client names them.
 *
 * The revision (default `main`) is resolved to its commit once, through the Hub API's file
 * list (`/api/{type}s/{repo}/revision/{revision}?blobs=true`), and every file is then read
 * at that commit, so the files of one run are of one commit. A large (LFS) file goes
 * through the swarm with its LFS sha256 as the task's identity (a stated digest: every
 * host, and dfdaemon's Hub endpoint, meet in one task whatever URL they came by), from its
 * `/resolve/{commit}/{path}` URL, whose redirect to LFS storage the CDN follows (credentials
 * dropped there). Small files come straight from the Hub (`-p source`). The output is laid
 * out as the Hub client's `--local-dir`: the files at their paths, and for each
 * `.cache/huggingface/download/<path>.metadata` (commit, etag, time), so `hf download
 * --local-dir` later finds them current.
 *
 * Credentials: `HF_TOKEN` (else HUGGING_FACE_HUB_TOKEN) becomes `Authorization: Bearer …`
 * unless a `--header` gives an Authorization of its own; they go to the Hub and, for large
 * files, to the supernode in the registration (it proves each client's access with that
 * client's own headers), never to LFS storage, and are never logged. The endpoint is
 * `--hf-endpoint`, else HF_ENDPOINT, else https://huggingface.co.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { HttpClient } from '../../common/http/client.js'
import { createHttpSourceTransport, SourceReader } from '../../common/source/source-reader.js'
import { DEFAULT_HUB_ENDPOINT, HUB_COMMIT_PATTERN, hubResolveUrl, hubRevisionApiUrl, isHubRepoId, type HubRepo, type HubRepoType } from '../../common/source/hub-paths.js'
import { DfError, isCode } from '../../protocol/errors.js'
import { resolveDfgetConfig, type DfgetOptions } from '../config.js'
import { configInvalid } from '../uploader/peer-server-config.js'
import type { DownloadPlan, PlannedDownload } from './object-store.js'
import { outputOfKey } from './output-path.js'

/** A parsed `hf://` URL. */
export interface HubLocation {
  readonly repo: HubRepo
  /** As given (a branch, tag or commit); `main` when none is given. */
  readonly revision: string
  /** A file or folder in the repository; "" for the whole repository. */
  readonly path: string
}

/** One file of the Hub's file list. */
export interface HubFile {
  readonly path: string
  readonly sizeBytes: number | undefined
  /** The git blob id (the Hub's ETag of a small file). */
  readonly blobId: string | undefined
  /** "sha256:<hex>" of an LFS file. */
  readonly lfsDigest: string | undefined
}

/** The file list of a repository at a commit. */
export interface HubListing {
  readonly commit: string
  readonly files: readonly HubFile[]
}

/** Where the Hub client keeps a local directory's bookkeeping. */
const LOCAL_DIR_METADATA = join('.cache', 'huggingface')
/** The file list's JSON is read up to this size (a repository of ~100k files). */
const MAX_LISTING_BYTES = 64 * 1024 * 1024

/**
 * `hf://[datasets/|spaces/|models/]owner/repo[@revision][/path]`. A revision with slashes
 * is given percent-encoded (`@refs%2Fpr%2F1`), or as `refs/pr/N` / `refs/convert/NAME`.
 * @throws DF_ERR_CONFIG_INVALID
 */
export function parseHubUrl (url: string): HubLocation {
  const bad = (problem: string): DfError => configInvalid('url', url, problem)
  const rest = url.replace(/^hf:\/\//i, '')
  if (rest.includes('?') || rest.includes('#')) throw bad('must be hf://owner/repo[@revision][/path], without a query')
  let segments = rest.split('/')
  let type: HubRepoType = 'model'
  const kind = segments[0]
  if (kind === 'datasets' || kind === 'spaces' || kind === 'models') {
    type = kind === 'datasets' ? 'dataset' : kind === 'spaces' ? 'space' : 'model'
    segments = segments.slice(1)
  }
  const owner = segments[0] ?? ''
  const nameAndRevision = segments[1] ?? ''
  const at = nameAndRevision.indexOf('@')
  const name = at < 0 ? nameAndRevision : nameAndRevision.slice(0, at)
  let revision = at < 0 ? '' : nameAndRevision.slice(at + 1)
  let pathSegments = segments.slice(2)
  if (at >= 0 && revision === 'refs' && (pathSegments[0] === 'pr' || pathSegments[0] === 'convert') && pathSegments.length >= 2) {
    revision = `refs/${pathSegments[0]}/${pathSegments[1] ?? ''}`
    pathSegments = pathSegments.slice(2)
  }
  const id = `${owner}/${name}`
  if (!isHubRepoId(id)) throw bad('must be hf://owner/repo[@revision][/path] (a dataset: hf://datasets/owner/repo)')
  if (at >= 0 && revision === '') throw bad('names no revision after @')
  let path: string
  try {
    revision = decodeURIComponent(revision)
    path = pathSegments.filter((segment) => segment !== '').map(decodeURIComponent).join('/')
  } catch {
    throw bad('is not valid percent-encoding')
  }
  if (path.split('/').some((segment) => segment === '.' || segment === '..')) throw bad('the path must not hold . or .. segments')
  return { repo: { type, id }, revision: revision === '' ? 'main' : revision, path }
}

/** The Hub's endpoint: --hf-endpoint, else HF_ENDPOINT, else huggingface.co. @throws DF_ERR_CONFIG_INVALID */
export function hubEndpointOf (options: DfgetOptions, env: NodeJS.ProcessEnv): string {
  const [flag, value] = options.hfEndpoint !== undefined ? ['hf-endpoint', options.hfEndpoint] : ['HF_ENDPOINT', env.HF_ENDPOINT]
  if (value === undefined || value === '') return DEFAULT_HUB_ENDPOINT
  let parsed: URL
  try { parsed = new URL(value) } catch { throw configInvalid(flag, value, 'must be an http or https URL') }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.search !== '' || parsed.hash !== '') throw configInvalid(flag, value, 'must be an http or https URL without a query')
  return value.replace(/\/+$/, '')
}

/**
 * The headers of every Hub request: the `--header`s, plus `Authorization: Bearer $HF_TOKEN`
 * (or HUGGING_FACE_HUB_TOKEN) unless one of them is an Authorization already.
 */
export function hubHeadersOf (options: DfgetOptions, env: NodeJS.ProcessEnv): string[] {
  const headers = [...options.header ?? []]
  const hasAuthorization = headers.some((header) => /^\s*authorization\s*:/i.test(header))
  const token = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN)
  if (!hasAuthorization && token !== undefined) headers.push(`Authorization: Bearer ${token}`)
  return headers
}

/**
 * Plans the downloads of an hf:// URL (object-store.ts): the file list is fetched first,
 * every output path checked, then each file is one download. @throws DfError
 */
export async function planHubDownloads (options: DfgetOptions, env: NodeJS.ProcessEnv, cwd: string): Promise<DownloadPlan> {
  const location = parseHubUrl(options.url ?? '')
  const endpoint = hubEndpointOf(options, env)
  const header = hubHeadersOf(options, env)
  // The headers are checked as every --header is before any is sent (the values are never shown).
  const { headers } = resolveDfgetConfig({ ...options, url: hubResolveUrl(endpoint, { repo: location.repo, revision: 'main', path: 'config-check' }), header, output: '-' }, cwd)
  const listing = await fetchHubListing(endpoint, location, headers)
  const exact = listing.files.find((file) => file.path === location.path)
  if (exact !== undefined && options.recursive !== true) {
    // One file: -o as given (a path, or - for stdout), else its name in the working directory, as for any URL.
    return { downloads: [fileDownload(options, endpoint, location.repo, listing.commit, exact, header, options.output ?? resolve(cwd, basename(exact.path)), false)], close: () => undefined }
  }
  if (location.path !== '' && exact === undefined && options.recursive !== true && listing.files.some((file) => file.path.startsWith(`${location.path}/`))) {
    throw configInvalid('url', options.url ?? '', 'names a folder: add --recursive to download the files under it')
  }
  const prefix = location.path === '' || exact !== undefined ? '' : `${location.path}/`
  const files = exact !== undefined ? [exact] : listing.files.filter((file) => file.path.startsWith(prefix))
  if (files.length === 0) {
    throw new DfError('DF_ERR_SOURCE_STATUS', `no file ${location.path === '' ? '' : `${location.path} `}in ${location.repo.id} at ${listing.commit}`, { details: { status: 404 } })
  }
  if (options.output === '-' || options.stream === true) throw configInvalid('output', options.output ?? '-', 'a repository or folder is written to a directory: give -o DIR, not - or --stream')
  const dir = resolve(cwd, options.output ?? basename(location.repo.id))
  // Every path checked before the first download; paths stay as in the repository (as `hf download --local-dir`).
  const outputs = files.map((file) => outputOfKey(dir, '', file.path))
  const metadataOf = new Map<string, { path: string, etag: string }>()
  const downloads = files.map((file, index) => {
    const output = outputs[index] ?? ''
    metadataOf.set(output, { path: file.path, etag: etagOf(file) })
    return fileDownload(options, endpoint, location.repo, listing.commit, file, header, output, true)
  })
  return {
    downloads,
    close: () => undefined,
    onDownloaded: async (done) => {
      const metadata = done.output === undefined ? undefined : metadataOf.get(done.output)
      if (metadata !== undefined) await writeLocalDirMetadata(dir, metadata.path, listing.commit, metadata.etag)
    },
  }
}

/**
 * The file list of a repository at a revision, and the revision's commit.
 * @throws DF_ERR_SOURCE_STATUS (401/403: gated or private, no token or no access; 404: no such repository or revision), DF_ERR_SOURCE_UNREACHABLE
 */
export async function fetchHubListing (endpoint: string, location: HubLocation, headers: Readonly<Record<string, string>>): Promise<HubListing> {
  const http = new HttpClient({ timeoutMs: 30_000 })
  const reader = new SourceReader({ transport: createHttpSourceTransport(http) })
  const url = hubRevisionApiUrl(endpoint, location.repo, location.revision)
  const what = `${location.repo.type === 'model' ? '' : `${location.repo.type}s/`}${location.repo.id}@${location.revision}`
  try {
    const read = await reader.openWhole(url, { ...headers, accept: 'application/json' }, AbortSignal.timeout(60_000))
    const chunks: Buffer[] = []
    let length = 0
    for await (const chunk of read.body) {
      length += (chunk as Buffer).length
      if (length > MAX_LISTING_BYTES) {
        read.body.destroy()
        throw new DfError('DF_ERR_SOURCE_STATUS', `hf://${what}: the Hub's file list is larger than ${MAX_LISTING_BYTES} bytes`, { details: { status: 200 } })
      }
      chunks.push(chunk as Buffer)
    }
    return parseHubListing(Buffer.concat(chunks).toString('utf8'), what)
  } catch (err) {
    throw hubError(err, what, headers)
  } finally {
    await http.close()
  }
}

/** The Hub's file list (JSON of the revision API with `blobs=true`). @throws DF_ERR_SOURCE_STATUS when it is not one */
export function parseHubListing (text: string, what: string): HubListing {
  const bad = (problem: string): DfError => new DfError('DF_ERR_SOURCE_STATUS', `hf://${what}: the Hub's file list ${problem}`, { details: { status: 200 } })
  let doc: unknown
  try { doc = JSON.parse(text) } catch { throw bad('is not JSON') }
  const info = doc as { sha?: unknown, siblings?: unknown } | null // checked field by field below
  if (typeof info?.sha !== 'string' || !HUB_COMMIT_PATTERN.test(info.sha)) throw bad('names no commit (sha)')
  if (!Array.isArray(info.siblings)) throw bad('has no siblings')
  const files = info.siblings.map((item: unknown): HubFile => {
    const sibling = item as { rfilename?: unknown, size?: unknown, blobId?: unknown, lfs?: { sha256?: unknown } | null } | null // checked below
    if (typeof sibling?.rfilename !== 'string' || sibling.rfilename === '') throw bad('has a file without a name')
    const sha256 = sibling.lfs?.sha256
    return {
      path: sibling.rfilename,
      sizeBytes: typeof sibling.size === 'number' ? sibling.size : undefined,
      blobId: typeof sibling.blobId === 'string' ? sibling.blobId : undefined,
      lfsDigest: typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? `sha256:${sha256}` : undefined,
    }
  })
  return { commit: info.sha, files }
}

/**
 * Writes the Hub client's record of a downloaded file (`hf download --local-dir`):
 * `.cache/huggingface/download/<path>.metadata` holding the commit, the etag and the time,
 * newer than the file, so the client finds the file current.
 */
export async function writeLocalDirMetadata (dir: string, path: string, commit: string, etag: string): Promise<void> {
  const base = join(dir, LOCAL_DIR_METADATA)
  const metadataPath = outputOfKey(join(base, 'download'), '', `${path}.metadata`)
  await mkdir(dirname(metadataPath), { recursive: true })
  await writeFile(join(base, '.gitignore'), '*')
  await writeFile(metadataPath, `${commit}\n${etag}\n${Date.now() / 1000}\n`)
}

/** The Hub client's etag of a file: the LFS sha256, else the git blob id. */
function etagOf (file: HubFile): string {
  return file.lfsDigest?.slice('sha256:'.length) ?? file.blobId ?? ''
}

function fileDownload (options: DfgetOptions, endpoint: string, repo: HubRepo, commit: string, file: HubFile, header: string[], output: string, makeDir: boolean): PlannedDownload {
  const url = hubResolveUrl(endpoint, { repo, revision: commit, path: file.path })
  const { hfEndpoint: _endpoint, recursive: _recursive, ...rest } = options
  return async () => {
    if (makeDir) await mkdir(dirname(output), { recursive: true })
    // A large file through the swarm, named by its content; a small one straight from the Hub.
    return file.lfsDigest === undefined
      ? { ...rest, url, output, header, pattern: 'source' }
      : { ...rest, url, output, header, digest: file.lfsDigest }
  }
}

/** A Hub failure, with what to do about it; the message names no credential. */
function hubError (err: unknown, what: string, headers: Readonly<Record<string, string>>): unknown {
  if (!isCode(err, 'DF_ERR_SOURCE_STATUS')) return err
  const status = Number(err.details?.status)
  const hasToken = Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')
  const hint = status === 401
    ? hasToken ? ': the token was refused' : ': the repository is gated or private: set HF_TOKEN (or --header "Authorization: Bearer <token>")'
    : status === 403 ? ': the token has no access to this repository (accept its conditions on the Hub, or use another token)'
      : status === 404 ? ': no such repository or revision' : ''
  return new DfError('DF_ERR_SOURCE_STATUS', `hf://${what}: the Hub answered ${status}${hint}`, { cause: err, ...(err.details === undefined ? {} : { details: err.details }) })
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}
