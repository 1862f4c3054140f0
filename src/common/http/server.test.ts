import { test } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'undici'
import { createSilentLogger } from '../log.js'
import { createHttpServer, formatBaseUrl, listenHttpServer } from './server.js'

test('a path fastify cannot route (no valid URL component) answers 400 DF_ERR_ARG_INVALID in our error shape', async (t) => {
  const app = createHttpServer({ logger: createSilentLogger() })
  t.after(async () => { await app.close() })
  app.get('/tasks/:taskId', async () => ({ ok: true }))
  const address = await listenHttpServer(app, '127.0.0.1', 0)
  const baseUrl = formatBaseUrl('127.0.0.1', address.port)
  for (const path of ['/tasks/%ff', '/tasks/%', '/tasks/%?x=1']) {
    const response = await request(`${baseUrl}${path}`)
    const body = await response.body.json() as { code?: string, details?: { field?: string } }
    assert.equal(response.statusCode, 400, path)
    assert.equal(body.code, 'DF_ERR_ARG_INVALID', path)
    assert.equal(body.details?.field, 'url')
  }
  const ok = await request(`${baseUrl}/tasks/a`)
  assert.equal(ok.statusCode, 200)
  await ok.body.dump()
})
