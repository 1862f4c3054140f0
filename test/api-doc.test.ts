/**
 * The API reference: docs/api.md is what scripts/gen-api-doc.ts makes of a running
 * supernode's /openapi.json (regenerated and diffed here), and the browsable page at /docs
 * loads with everything it needs from the supernode itself (no network).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { generateApiMarkdown } from '../scripts/gen-api-doc.js'
import { startTestSupernode } from './harness/supernode.js'

test('docs/api.md is generated from the supernode\'s OpenAPI document and up to date (npm run docs:api)', async () => {
  const current = await readFile(new URL('../docs/api.md', import.meta.url), 'utf8')
  const generated = await generateApiMarkdown()
  assert.equal(current, generated, 'docs/api.md is stale: run npm run docs:api')
  for (const path of ['POST /api/v1/preheats', 'GET /api/v1/preheats/{preheatId}', 'POST /api/v1/tasks', 'PUT /api/v1/tasks/{taskId}/pieces/{pieceRange}']) {
    assert.ok(generated.includes(`### ${path}\n`), `docs/api.md documents ${path}`)
  }
})

test('the /docs page works offline: every asset it loads comes from the supernode, and it reads the same OpenAPI document', async (t) => {
  const sn = await startTestSupernode(t)
  const page = await fetch(`${sn.apiUrl}/docs/`)
  assert.equal(page.status, 200)
  const html = await page.text()
  assert.match(html, /<title>Damselfly supernode API<\/title>/)
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1] ?? '')
  assert.ok(assets.length >= 3, `the page loads its assets: ${assets.join(', ')}`)
  for (const asset of assets) {
    assert.doesNotMatch(asset, /^(?:https?:)?\/\//, `${asset} is local`)
    const response = await fetch(new URL(asset, `${sn.apiUrl}/docs/`))
    assert.equal(response.status, 200, asset)
    const body = await response.arrayBuffer()
    assert.ok(body.byteLength > 0, `${asset} is not empty`)
    if (asset.endsWith('swagger-initializer.js')) {
      const script = Buffer.from(body).toString('utf8')
      assert.match(script, /validatorUrl: null/, 'no online validator badge')
      const specUrl = /url: (?:resolveUrl\()?['"]([^'"]+)['"]/.exec(script)?.[1] ?? './json'
      assert.doesNotMatch(specUrl, /^(?:https?:)?\/\//)
    }
  }
  const spec = await (await fetch(`${sn.apiUrl}/docs/json`)).json() as { paths: Record<string, unknown> }
  const openapi = await (await fetch(`${sn.apiUrl}/openapi.json`)).json() as { paths: Record<string, unknown> }
  assert.deepEqual(Object.keys(spec.paths), Object.keys(openapi.paths))
  assert.ok(spec.paths['/api/v1/preheats'] !== undefined)
})
