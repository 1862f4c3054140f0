/**
 * startHubOrigin(): a Hugging Face Hub we control (STYLE.md B10.4), serving the Hub's
 * documented paths and headers, as the Hub client (huggingface_hub's `hf_api.py`,
 * `file_download.py`) reads them:
 *
 * - `GET /api/{models|datasets}/{owner}/{name}/revision/{revision}`: the repository's info,
 *   `sha` (the commit) and `siblings` (`rfilename`; with `?blobs=true` also `size`, `blobId`
 *   and for LFS files `lfs: { sha256, size, pointerSize }`);
 * - `GET /api/{type}s/{owner}/{name}/tree/{revision}[/{path}]` (`?recursive=true`): file
 *   entries `{ type: 'file', oid, size, path, lfs?: { oid, size, pointerSize } }` and folders;
 * - `HEAD|GET /[datasets/]{owner}/{name}/resolve/{revision}/{path}`: a small file is
 *   answered 200 (ETag = its git blob id, byte ranges); a large (LFS) file with a 302 to the
 *   LFS store (another host, 127.0.0.2, with a signed query), stating `X-Linked-Etag`
 *   (the sha256), `X-Linked-Size`, and Xet's `X-Xet-Hash` and `xet-auth` link (no Xet
 *   storage answers them); every answer names the commit in `X-Repo-Commit`;
 * - errors with `X-Error-Code`: RepoNotFound, RevisionNotFound, EntryNotFound, and for a
 *   gated repository GatedRepo (401 without a token, 403 with a wrong one).
 *
 * The LFS store is the project's origin harness (origin.ts): it counts the bytes it sends
 * per file, so a test can assert "each large file was read from the origin once", and keeps
 * every request's headers (to assert that no Authorization reached it).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createHash, randomBytes } from 'node:crypto'
import { startOrigin, type Origin } from './origin.js'

export interface HubRepoSpec {
  readonly type?: 'model' | 'dataset'
  /** "owner/name". */
  readonly id: string
  /** Files by path. */
  readonly files: Readonly<Record<string, Buffer>>
  /** Which files are LFS files (default: 1 MiB and larger, and *.safetensors / *.bin). */
  readonly isLfs?: (path: string, data: Buffer) => boolean
  /** A gated repository: every request needs `Authorization: Bearer <token>`. */
  readonly token?: string
}

export interface HubOrigin {
  /** "http://127.0.0.1:port": HF_ENDPOINT of the Hub. */
  readonly endpoint: string
  /** The LFS store (origin harness on 127.0.0.2). */
  readonly store: Origin
  /** The commit of a repository's `main`. */
  commitOf(id: string): string
  /** Path of an LFS file's object in the store. */
  storePathOf(id: string, path: string): string
  /** Bytes the store sent of an LFS file (all requests). */
  lfsBytesSent(id: string, path: string): number
  /** Requests the Hub itself answered, with their Authorization header. */
  readonly requests: readonly { readonly method: string, readonly path: string, readonly authorization: string | undefined }[]
  close(): Promise<void>
}

interface RepoFile { readonly path: string, readonly data: Buffer, readonly blobId: string, readonly lfs: { sha256: string, pointerSize: number } | undefined }
interface Repo { readonly spec: HubRepoSpec, readonly commit: string, readonly files: Map<string, RepoFile> }

const defaultIsLfs = (path: string, data: Buffer): boolean => data.length >= 1024 * 1024 || /\.(safetensors|bin|parquet)$/.test(path)

/** The git blob id of content (what the Hub reports as `blobId`/`oid` and as a small file's ETag). */
function gitBlobId (data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex')
}

export async function startHubOrigin (options: { repos: readonly HubRepoSpec[] }): Promise<HubOrigin> {
  const store = await startOrigin({ host: '127.0.0.2' })
  const repos = new Map<string, Repo>()
  for (const spec of options.repos) {
    const files = new Map<string, RepoFile>()
    for (const [path, data] of Object.entries(spec.files)) {
      const lfsFile = (spec.isLfs ?? defaultIsLfs)(path, data)
      const sha256 = createHash('sha256').update(data).digest('hex')
      const pointer = Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${data.length}\n`)
      files.set(path, { path, data, blobId: gitBlobId(lfsFile ? pointer : data), lfs: lfsFile ? { sha256, pointerSize: pointer.length } : undefined })
      if (lfsFile) store.setFile(storeObjectPath(sha256), { data })
    }
    const commit = createHash('sha1').update(`${spec.type ?? 'model'}/${spec.id}`).update([...files.values()].map((f) => f.blobId).join()).digest('hex')
    repos.set(`${spec.type ?? 'model'}/${spec.id}`, { spec, commit, files })
  }
  const requests: { method: string, path: string, authorization: string | undefined }[] = []
  const sockets = new Set<Socket>()
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hub.invalid')
    requests.push({ method: req.method ?? 'GET', path: url.pathname, authorization: req.headers.authorization })
    try {
      serve(req, res, url)
    } catch (err) {
      res.writeHead(500).end(String(err))
    }
  })
  server.on('connection', (socket: Socket) => { sockets.add(socket); socket.once('close', () => sockets.delete(socket)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  function serve (req: IncomingMessage, res: ServerResponse, url: URL): void {
    const api = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname)
    if (api !== null) {
      const repo = repoOr404(res, api[1] === 'datasets' ? 'dataset' : 'model', decodeURIComponent(api[2] ?? ''))
      if (repo === undefined || !authorized(req, res, repo)) return
      if (!revisionOk(res, repo, decodeURIComponent(api[4] ?? ''))) return
      if (api[3] === 'revision') sendJson(res, repoInfo(repo, url.searchParams.get('blobs') === 'true'))
      else sendJson(res, treeOf(repo, decodeURIComponent(api[5] ?? ''), url.searchParams.get('recursive') === 'true' || url.searchParams.get('recursive') === 'True'))
      return
    }
    const resolve = /^\/(?:(datasets)\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname)
    if (resolve !== null && (req.method === 'GET' || req.method === 'HEAD')) {
      const repo = repoOr404(res, resolve[1] === 'datasets' ? 'dataset' : 'model', decodeURIComponent(resolve[2] ?? ''))
      if (repo === undefined || !authorized(req, res, repo) || !revisionOk(res, repo, decodeURIComponent(resolve[3] ?? ''))) return
      const path = (resolve[4] ?? '').split('/').map(decodeURIComponent).join('/')
      const file = repo.files.get(path)
      if (file === undefined) {
        errorAnswer(res, 404, 'EntryNotFound', `${path} does not exist on "${repo.commit}"`, { 'x-repo-commit': repo.commit })
        return
      }
      serveFile(req, res, repo, file)
      return
    }
    errorAnswer(res, 404, 'NotFound', 'not a Hub path')
  }

  function repoOr404 (res: ServerResponse, type: 'model' | 'dataset', id: string): Repo | undefined {
    const repo = repos.get(`${type}/${id}`)
    if (repo === undefined) errorAnswer(res, 404, 'RepoNotFound', `Repository not found: ${id}`)
    return repo
  }

  function authorized (req: IncomingMessage, res: ServerResponse, repo: Repo): boolean {
    const token = repo.spec.token
    if (token === undefined) return true
    const given = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (given === token) return true
    if (given === undefined) errorAnswer(res, 401, 'GatedRepo', `Access to model ${repo.spec.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`)
    else errorAnswer(res, 403, 'GatedRepo', `Access to model ${repo.spec.id} is restricted and you are not in the authorized list.`)
    return false
  }

  function revisionOk (res: ServerResponse, repo: Repo, revision: string): boolean {
    if (revision === 'main' || revision === repo.commit) return true
    errorAnswer(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`)
    return false
  }

  function serveFile (req: IncomingMessage, res: ServerResponse, repo: Repo, file: RepoFile): void {
    const common = { 'x-repo-commit': repo.commit, 'access-control-expose-headers': 'X-Repo-Commit,X-Linked-Etag,X-Linked-Size,ETag' }
    if (file.lfs !== undefined) {
      // The Hub's redirect to LFS storage: a presigned URL of another host.
      const signature = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=${randomBytes(16).toString('hex')}`
      res.writeHead(302, {
        ...common,
        location: `${store.url(storeObjectPath(file.lfs.sha256))}?${signature}`,
        'x-linked-etag': `"${file.lfs.sha256}"`,
        'x-linked-size': String(file.data.length),
        etag: `"${file.blobId}"`,
        'content-length': '0',
        // As the Hub names a file also stored in Xet: a client that reads these downloads from
        // Xet storage (none here: a test fails if it tries) instead of over HTTP.
        'x-xet-hash': createHash('sha256').update(`xet:${file.lfs.sha256}`).digest('hex'),
        link: `<${endpoint}/api/${repo.spec.type ?? 'model'}s/${repo.spec.id}/xet-read-token/${repo.commit}>; rel="xet-auth", <${endpoint}/xet/reconstructions/${file.lfs.sha256}>; rel="xet-reconstruction-info"`,
      }).end()
      return
    }
    const headers = { ...common, etag: `"${file.blobId}"`, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' }
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
    if (range !== null) {
      const start = Number(range[1])
      const end = range[2] === '' ? file.data.length - 1 : Math.min(Number(range[2]), file.data.length - 1)
      if (start >= file.data.length || end < start) {
        res.writeHead(416, { ...headers, 'content-range': `bytes */${file.data.length}` }).end()
        return
      }
      res.writeHead(206, { ...headers, 'content-range': `bytes ${start}-${end}/${file.data.length}`, 'content-length': String(end - start + 1) })
      res.end(req.method === 'HEAD' ? undefined : file.data.subarray(start, end + 1))
      return
    }
    res.writeHead(200, { ...headers, 'content-length': String(file.data.length) })
    res.end(req.method === 'HEAD' ? undefined : file.data)
  }

  function storePathOf (id: string, path: string): string {
    const sha256 = [...repos.values()].find((repo) => repo.spec.id === id)?.files.get(path)?.lfs?.sha256
    if (sha256 === undefined) throw new Error(`no LFS file ${path} in ${id}`)
    return storeObjectPath(sha256)
  }

  return {
    endpoint,
    store,
    requests,
    commitOf: (id) => [...repos.values()].find((repo) => repo.spec.id === id)?.commit ?? '',
    storePathOf,
    lfsBytesSent: (id, path) => store.stats(storePathOf(id, path)).bytesSent,
    close: async () => {
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      for (const socket of sockets) socket.destroy()
      await closed
      await store.close()
    },
  }
}

function storeObjectPath (sha256: string): string {
  return `/repos/${sha256.slice(0, 2)}/${sha256.slice(2, 4)}/${sha256}`
}

function repoInfo (repo: Repo, blobs: boolean): unknown {
  const { spec } = repo
  return {
    _id: repo.commit.slice(0, 24),
    id: spec.id,
    ...(spec.type === 'dataset' ? {} : { modelId: spec.id }),
    author: spec.id.split('/')[0],
    sha: repo.commit,
    lastModified: '2026-12-01T00:00:00.000Z',
    private: false,
    gated: spec.token === undefined ? false : 'manual',
    disabled: false,
    tags: [],
    downloads: 0,
    likes: 0,
    siblings: [...repo.files.values()].map((file) => blobs
      ? { rfilename: file.path, size: file.data.length, blobId: file.blobId, ...(file.lfs === undefined ? {} : { lfs: { sha256: file.lfs.sha256, size: file.data.length, pointerSize: file.lfs.pointerSize } }) }
      : { rfilename: file.path }),
    createdAt: '2026-12-01T00:00:00.000Z',
  }
}

function treeOf (repo: Repo, under: string, recursive: boolean): unknown[] {
  const prefix = under === '' ? '' : `${under}/`
  const entries: unknown[] = []
  const folders = new Set<string>()
  for (const file of repo.files.values()) {
    if (!file.path.startsWith(prefix)) continue
    const rest = file.path.slice(prefix.length).split('/')
    for (let depth = 1; depth < rest.length; depth++) {
      const folder = prefix + rest.slice(0, depth).join('/')
      if (!folders.has(folder) && (recursive || depth === 1)) {
        folders.add(folder)
        entries.push({ type: 'directory', oid: createHash('sha1').update(folder).digest('hex'), size: 0, path: folder })
      }
    }
    if (!recursive && rest.length > 1) continue
    entries.push({
      type: 'file',
      oid: file.blobId,
      size: file.data.length,
      path: file.path,
      ...(file.lfs === undefined ? {} : { lfs: { oid: file.lfs.sha256, size: file.data.length, pointerSize: file.lfs.pointerSize } }),
    })
  }
  return entries
}

function sendJson (res: ServerResponse, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value))
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) }).end(body)
}

function errorAnswer (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify({ error: message }))
  res.writeHead(status, { ...headers, 'x-error-code': code, 'x-error-message': message, 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) }).end(body)
}
