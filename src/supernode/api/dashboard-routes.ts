/**
 * Dashboard routes: the page (`GET /`, its files under `/dashboard/assets/`), and its
 * read-only feed — one snapshot as JSON (`GET /api/v1/dashboard`) or a stream of them as
 * server-sent events (`GET /api/v1/dashboard/events`), both with `?taskId=` to include one
 * task's cids and piece maps. The page holds no data, so it is served without a token;
 * the feed needs the API token when one is configured, as `Authorization: Bearer …` or,
 * for clients that cannot set headers (EventSource), `?token=`.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { hasBearerToken } from '../../common/http/auth.js'
import { DfError } from '../../protocol/errors.js'
import { parseTaskId, type TaskId } from '../../protocol/ids.js'
import { ErrorSchema } from '../../protocol/messages/common-schemas.js'
import { DashboardQuerySchema, DashboardSnapshotSchema, type DashboardQuery } from '../../protocol/messages/dashboard.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import type { DashboardAssets } from '../dashboard/dashboard-assets.js'
import type { DashboardFeed } from '../dashboard/dashboard-feed.js'

export interface DashboardRoutesDeps {
  readonly feed: Pick<DashboardFeed, 'fetchSnapshot' | 'subscribe'>
  readonly assets: Pick<DashboardAssets, 'loadIndex' | 'loadAsset' | 'dirPath'>
  /** The API token the feed requires; undefined = open. */
  readonly token: string | undefined
}

const ERRORS = { '4xx': ErrorSchema, '5xx': ErrorSchema }

/**
 * The page may talk to this supernode only: no other origin for scripts, styles, fonts,
 * images or connections (the browser enforces it).
 */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const

/**
 * True for the paths these routes guard themselves (the page and its files are open; the
 * feed takes the token as a header or `?token=`), so a server-wide token hook must let them
 * through to their handlers.
 */
export function isDashboardPath (path: string): boolean {
  return path === SUPERNODE_PATHS.dashboard || path === SUPERNODE_PATHS.dashboardFeed || path === SUPERNODE_PATHS.dashboardEvents ||
    path.startsWith(SUPERNODE_PATHS.dashboardAsset.slice(0, SUPERNODE_PATHS.dashboardAsset.indexOf(':')))
}

export function registerDashboardRoutes (app: FastifyInstance, deps: DashboardRoutesDeps): void {
  const { feed, assets } = deps
  const { token } = deps

  const authorize = (request: FastifyRequest<{ Querystring: DashboardQuery }>): void => {
    if (token === undefined || token === '') return
    const fromQuery = request.query.token === undefined ? undefined : `Bearer ${request.query.token}`
    if (hasBearerToken(request.headers.authorization, token) || hasBearerToken(fromQuery, token)) return
    throw new DfError('DF_ERR_ARG_UNAUTHORIZED', 'the dashboard feed needs the API token (Authorization: Bearer …, or ?token=)')
  }
  const selectionOf = (query: DashboardQuery): TaskId | undefined => query.taskId === undefined ? undefined : parseTaskId(query.taskId, 'querystring.taskId')

  app.get(SUPERNODE_PATHS.dashboard, { schema: { tags: ['dashboard'], summary: 'The swarm dashboard page (HTML)' } }, async (_request, reply) => {
    const index = await assets.loadIndex()
    if (index === undefined) {
      return await reply.status(503).headers({ ...PAGE_HEADERS, 'cache-control': 'no-store' }).type('text/html; charset=utf-8').send(notBuiltPage(assets.dirPath))
    }
    return await reply.headers({ ...PAGE_HEADERS, 'cache-control': 'no-cache' }).type(index.contentType).send(index.body)
  })

  app.get<{ Params: { file: string } }>(SUPERNODE_PATHS.dashboardAsset, { schema: { hide: true } }, async (request, reply) => {
    const asset = await assets.loadAsset(request.params.file)
    if (asset === undefined) throw new DfError('DF_ERR_ARG_ROUTE_NOT_FOUND', `no dashboard file ${request.params.file}`)
    // Built file names carry a content hash: they never change.
    return await reply.headers({ ...PAGE_HEADERS, 'cache-control': 'public, max-age=31536000, immutable' }).type(asset.contentType).send(asset.body)
  })

  app.get<{ Querystring: DashboardQuery }>(SUPERNODE_PATHS.dashboardFeed, {
    schema: {
      tags: ['dashboard'],
      summary: 'One snapshot of the swarm: tasks, bytes by source, and with ?taskId= that task\'s cids and piece maps (read-only)',
      querystring: DashboardQuerySchema,
      response: { 200: DashboardSnapshotSchema, ...ERRORS },
    },
  }, async (request, reply) => {
    authorize(request)
    void reply.header('cache-control', 'no-store')
    return await feed.fetchSnapshot(selectionOf(request.query))
  })

  app.get<{ Querystring: DashboardQuery }>(SUPERNODE_PATHS.dashboardEvents, {
    schema: {
      tags: ['dashboard'],
      summary: 'Server-sent events: `snapshot` (the JSON of GET /api/v1/dashboard) whenever it changed, at most once per intervalMs',
      querystring: DashboardQuerySchema,
      response: ERRORS,
    },
  }, async (request, reply) => {
    authorize(request)
    const selection = selectionOf(request.query)
    streamEvents(reply, feed, selection)
  })
}

function streamEvents (reply: FastifyReply, feed: DashboardRoutesDeps['feed'], selection: TaskId | undefined): void {
  reply.hijack()
  const res = reply.raw
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  })
  res.write('retry: 2000\n\n')
  const unsubscribe = feed.subscribe(selection, {
    // write() returns false once the socket's buffer is full: the feed skips this one until it drains.
    write: (text) => {
      if (res.writableNeedDrain || res.destroyed) return false
      res.write(text)
      return true
    },
    end: () => { res.end() },
  })
  res.once('close', unsubscribe)
}

function notBuiltPage (dirPath: string): string {
  const escaped = dirPath.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c] ?? c))
  return `<!doctype html><meta charset="utf-8"><title>Damselfly dashboard not built</title>
<h1>The dashboard page was not built</h1>
<p>This supernode looked for it in <code>${escaped}</code>. Build it with <code>npm run build</code>
(or <code>npm ci</code>) in the Damselfly checkout, then reload. The read-only feed works without it:
<code>GET /api/v1/dashboard</code>.</p>\n`
}
