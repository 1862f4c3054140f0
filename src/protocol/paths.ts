/**
 * Every URL path of every server, in one place. Clients and route tables both use these.
 */

/** Supernode API (the `--port` server). */
export const SUPERNODE_PATHS = {
  ping: '/_ping',
  version: '/version',
  metrics: '/metrics',
  openapi: '/openapi.json',
  docs: '/docs',
  peers: '/api/v1/peers',
  peer: '/api/v1/peers/:peerId',
  tasks: '/api/v1/tasks',
  task: '/api/v1/tasks/:taskId',
  taskPieces: '/api/v1/tasks/:taskId/pieces',
  taskPiece: '/api/v1/tasks/:taskId/pieces/:pieceRange',
  /** Control protocol v2: a download's one exchange after registration (bitmap, parents, digests). */
  taskSync: '/api/v2/tasks/:taskId/sync',
  /** The swarm dashboard page (HTML) and its built files. */
  dashboard: '/',
  dashboardAsset: '/dashboard/assets/:file',
  /** The dashboard's read-only feed: one snapshot (JSON), or a stream of them (server-sent events). */
  dashboardFeed: '/api/v1/dashboard',
  dashboardEvents: '/api/v1/dashboard/events',
  preheats: '/api/v1/preheats',
  preheat: '/api/v1/preheats/:preheatId',
} as const

/** Supernode piece data (the `--download-port` server). Range requests on the task file. */
export const SUPERNODE_DATA_PATHS = {
  taskData: '/tasks/:taskId/data',
} as const

/** Peer server. */
export const PEER_PATHS = {
  ping: '/_ping',
  /** Prometheus text: uploads, served and expired files. */
  metrics: '/metrics',
  /** Piece data of a task this host holds, read with Range (`?cid=` selects the download). */
  taskData: '/peer/tasks/:taskId/data',
  /** Control protocol v2: the bitmap of a task this host holds, long-polled by its children (`?cid=&since=&waitMs=`). */
  taskHaves: '/peer/tasks/:taskId/haves',
  /** Local control: register a file this host serves (called by dfget on the same host). */
  uploads: '/peer/uploads',
  upload: '/peer/uploads/:taskId',
  /** Local control: pieces of a registered file that are verified now (`?cid=`). */
  uploadPieces: '/peer/uploads/:taskId/pieces',
  /** Local control, stream mode: open a window store for a streaming download (taskId, cid). */
  streams: '/peer/streams',
  /** Local control, stream mode: close a stream's store (`?cid=`). */
  stream: '/peer/streams/:taskId',
  /** Local control, stream mode: put (PUT, raw bytes) or drop (DELETE) one piece of the window (`?cid=`). */
  streamPiece: '/peer/streams/:taskId/pieces/:pieceNum',
} as const

/** Fills `:name` parameters of a path, URL-encoding each value. */
export function fillPath (path: string, params: Readonly<Record<string, string>>): string {
  return path.replace(/:([A-Za-z]+)/g, (_, name: string) => {
    const value = params[name]
    if (value === undefined) throw new TypeError(`missing path parameter ${name}`)
    return encodeURIComponent(value)
  })
}
