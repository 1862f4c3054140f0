import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { systemClock } from '../../common/clock.js'
import { HttpClient } from '../../common/http/client.js'
import { createHttpServer, formatBaseUrl, listenHttpServer } from '../../common/http/server.js'
import { CloseStack } from '../../common/lifecycle.js'
import { createSilentLogger } from '../../common/log.js'
import { isCode } from '../../protocol/errors.js'
import { SUPERNODE_PATHS } from '../../protocol/paths.js'
import { startTestSupernode } from '../../../test/harness/supernode.js'
import { createTmpDir } from '../../../test/harness/tmp-dir.js'
import { SupernodeClient } from '../client.js'
import { isDashboardPath, registerDashboardRoutes } from '../api/dashboard-routes.js'
import { DashboardAssets } from './dashboard-assets.js'
import { DashboardFeed } from './dashboard-feed.js'
import { bytesOf } from './snapshot-builder.js'

/** A dashboard server over an empty swarm: what is tested here is access, not content. */
async function startDashboardServer (stack: CloseStack, options: { token: string | undefined, assetsDir: string }): Promise<string> {
  const logger = createSilentLogger()
  const feed = new DashboardFeed({
    builder: { buildOverview: async () => ({ peers: 0, totals: bytesOf(0, 0, 0, 0), tasks: [], rates: new Map(), isActive: false }), buildDetail: () => undefined },
    events: { onNotify: () => () => {} },
    clock: systemClock,
    logger,
  })
  const app = createHttpServer({ logger })
  registerDashboardRoutes(app, { feed, assets: new DashboardAssets(pathToFileURL(`${options.assetsDir}/`)), token: options.token })
  const address = await listenHttpServer(app, '127.0.0.1', 0)
  stack.defer(async () => { feed.close(); await app.close() })
  return formatBaseUrl('127.0.0.1', address.port)
}

async function readText (body: AsyncIterable<unknown>): Promise<string> {
  let text = ''
  for await (const chunk of body) text += String(chunk)
  return text
}

test('the page is served with a CSP that allows only this server, and says how to build it when it was not built', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-dashboard-assets-'))
  const http = stack.push(new HttpClient({ keepAliveTimeoutMs: 1_000 }))
  const baseUrl = await startDashboardServer(stack, { token: undefined, assetsDir: dir.path })

  const missing = await http.stream({ url: `${baseUrl}${SUPERNODE_PATHS.dashboard}` }, [503])
  assert.equal(missing.status, 503)
  assert.match(await readText(missing.body), /npm run build/)

  await mkdir(join(dir.path, 'assets'))
  await writeFile(join(dir.path, 'index.html'), '<!doctype html><title>dash</title>')
  await writeFile(join(dir.path, 'assets', 'index-abc.js'), 'console.log(1)')
  const page = await http.stream({ url: `${baseUrl}${SUPERNODE_PATHS.dashboard}` })
  assert.equal(page.status, 200)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/)
  assert.equal(await readText(page.body), '<!doctype html><title>dash</title>')
  const script = await http.stream({ url: `${baseUrl}/dashboard/assets/index-abc.js` })
  assert.match(String(script.headers['content-type']), /^text\/javascript/)
  assert.equal(await readText(script.body), 'console.log(1)')
  await assert.rejects(http.requestVoid({ url: `${baseUrl}/dashboard/assets/..%2Findex.html` }), (err: unknown) => isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND'))
  await assert.rejects(http.requestVoid({ url: `${baseUrl}/dashboard/assets/nothing.js` }), (err: unknown) => isCode(err, 'DF_ERR_ARG_ROUTE_NOT_FOUND'))
})

test('with a token the feed answers 401 without it, and serves it as a Bearer header or ?token=', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-dashboard-token-'))
  const http = stack.push(new HttpClient({ keepAliveTimeoutMs: 1_000 }))
  const baseUrl = await startDashboardServer(stack, { token: 's3cret', assetsDir: dir.path })
  const feedUrl = `${baseUrl}${SUPERNODE_PATHS.dashboardFeed}`
  const asJson = (value: unknown): unknown => value

  await assert.rejects(http.requestJson({ url: feedUrl }, asJson), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED') && err.remote?.status === 401)
  await assert.rejects(http.requestJson({ url: feedUrl, headers: { authorization: 'Bearer wrong' } }, asJson), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED'))
  await assert.rejects(http.requestJson({ url: `${baseUrl}${SUPERNODE_PATHS.dashboardEvents}` }, asJson), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED'))
  const snapshot = await http.requestJson({ url: feedUrl, headers: { authorization: 'Bearer s3cret' } }, asJson) as { tasks: unknown[], peers: number }
  assert.deepEqual(snapshot.tasks, [])
  assert.equal(snapshot.peers, 0)
  await http.requestJson({ url: `${feedUrl}?token=s3cret` }, asJson)

  const events = await http.stream({ url: `${baseUrl}${SUPERNODE_PATHS.dashboardEvents}?token=s3cret`, timeoutMs: 5_000 })
  stack.defer(() => { events.body.destroy() })
  assert.equal(events.status, 200)
  assert.match(String(events.headers['content-type']), /^text\/event-stream/)
  let text = ''
  for await (const chunk of events.body) {
    text += String(chunk)
    if (text.includes('\n\nevent: snapshot') && text.endsWith('\n\n')) break
  }
  assert.match(text, /event: snapshot\ndata: \{"generatedAt":/)
  // The page itself needs no token: it holds no data.
  const page = await http.stream({ url: `${baseUrl}${SUPERNODE_PATHS.dashboard}` }, [503])
  page.body.resume()
  assert.equal(page.status, 503)
})

test('the dashboard paths that guard themselves are recognised for a server-wide token hook', () => {
  for (const path of ['/', '/dashboard/assets/index-abc.js', '/api/v1/dashboard', '/api/v1/dashboard/events']) assert.equal(isDashboardPath(path), true, path)
  for (const path of ['/api/v1/tasks', '/metrics', '/dashboard', '/api/v1/dashboard/other', '/docs']) assert.equal(isDashboardPath(path), false, path)
})

test('a supernode with a token keeps its API closed but the dashboard page open, and its feed takes the token', async (t) => {
  const sn = await startTestSupernode(t, { token: 'tok-1' })
  const stack = new CloseStack()
  t.after(() => stack.close())
  const http = stack.push(new HttpClient({ keepAliveTimeoutMs: 1_000 }))
  const asJson = (value: unknown): unknown => value
  await assert.rejects(http.requestJson({ url: `${sn.apiUrl}${SUPERNODE_PATHS.tasks}` }, asJson), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED'))
  await assert.rejects(sn.client.fetchDashboard(), (err: unknown) => isCode(err, 'DF_ERR_ARG_UNAUTHORIZED') && err.remote?.status === 401)
  const page = await http.stream({ url: `${sn.apiUrl}${SUPERNODE_PATHS.dashboard}` }, [503])
  page.body.resume()
  assert.ok(page.status === 200 || page.status === 503, `page answered ${page.status}`)
  const withToken = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl, token: 'tok-1', keepAliveTimeoutMs: 1_000 }))
  assert.deepEqual((await withToken.fetchDashboard()).tasks, [])
  await http.requestJson({ url: `${sn.apiUrl}${SUPERNODE_PATHS.dashboardFeed}?token=tok-1` }, asJson)
})
