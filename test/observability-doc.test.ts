/**
 * docs/observability.md lists every metric the three programs expose (a real supernode's
 * /metrics, the peer server's and dfdaemon's registries).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { PeerMetrics } from '../src/dfget/uploader/peer-metrics.js'
import { ProxyMetrics } from '../src/dfdaemon/proxy-metrics.js'
import { startTestSupernode } from './harness/supernode.js'

const typeLines = (text: string): string[] => [...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1] ?? '')

test('docs/observability.md documents every metric of the supernode, the peer server and dfdaemon', async (t) => {
  const doc = await readFile(new URL('../docs/observability.md', import.meta.url), 'utf8')
  const sn = await startTestSupernode(t)
  const names = [
    ...typeLines(await sn.client.fetchMetricsText()),
    ...typeLines(await new PeerMetrics({ countServedFiles: () => 0, sumServedBytes: () => 0 }).registry.metrics()),
    ...typeLines((await new ProxyMetrics().render()).text),
  ]
  assert.ok(names.length >= 25, `found ${names.length} metrics`)
  for (const name of names) assert.match(doc, new RegExp(`\`${name}(?:\\{[a-z_,]+\\})?\``), `${name} is documented`)
})
