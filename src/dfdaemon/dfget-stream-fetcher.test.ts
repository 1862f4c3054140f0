import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../common/log.js'
import { createHomeLayout } from '../dfget/index.js'
import { DfgetStreamFetcher } from './dfget-stream-fetcher.js'

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}

test('the peer server dfdaemon hosts takes the host file\'s settings: a fixed port (as dfget server --port), for a hostPort and a scrape target', async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'damselfly-fetcher-'))
  t.after(async () => { await rm(home, { recursive: true, force: true }) })
  const port = await freePort()
  const fetcher = new DfgetStreamFetcher({ logger: createLogger({ level: 'silent', name: 'test' }) }, {
    homeDir: home, nodes: ['127.0.0.1:1'], peerServer: { port, ip: '127.0.0.1', expiretime: '45m' },
  })
  t.after(async () => { await fetcher.close() })
  await fetcher.start()
  const state = JSON.parse(await readFile(createHomeLayout(home).statePath, 'utf8')) as { port: number, pid: number }
  assert.equal(state.port, port, 'the hosted peer server listens on the configured port')
  assert.equal(state.pid, process.pid)
  const ping = await fetch(`http://127.0.0.1:${port}/_ping`)
  assert.equal(ping.status, 200)
})
