/**
 * bin/dfget as a user runs it (child processes, built dist/): exit statuses, the one-line
 * error, the summary line, stdout carrying only data, and the detached peer server shared
 * by the dfgets of one home and stopping by itself after --alivetime. Every child started
 * here is stopped at teardown, also on failure (peer servers by the pid in their state file).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createServer, type AddressInfo } from 'node:net'
import { createServer as createHttpServer } from 'node:http'
import { startOrigin, createTestData, sha256Hex } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { BIN, ROOT, parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'

const MiB = 1024 * 1024

async function deadNode (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return `127.0.0.1:${port}`
}

/** Runs bin/dfget and keeps stdout too. */
async function runWithStdout (args: readonly string[]): Promise<{ exitCode: number, stdout: Buffer, stderr: string }> {
  const child = spawn(BIN('dfget'), args, { stdio: ['ignore', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { out.push(chunk) })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exitCode = await new Promise<number>((resolve) => child.once('exit', (code) => { resolve(code ?? 1) }))
  return { exitCode, stdout: Buffer.concat(out), stderr }
}

async function readState (home: string): Promise<{ pid: number, port: number, peerId: string } | undefined> {
  try {
    return JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number, port: number, peerId: string }
  } catch {
    return undefined
  }
}

test('without a supernode dfget back-sources, prints the summary, exits 0; two runs of one home share one peer server', async (t) => {
  const data = createTestData(2 * MiB + 99, 41)
  const origin = await startOrigin({ files: { '/a.bin': { data } } })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-e2e-dfget-')
  const home = join(dir.path, 'home')
  // After-hooks run in registration order: stop the detached peer server before removing its home.
  t.after(async () => { await stopPeerServer(home); await dir.close() })
  const node = await deadNode()
  const runs = await Promise.all([1, 2].map(async (i) => await runDfgetProcess(['-u', origin.url('/a.bin'), '-o', join(dir.path, `a${i}.bin`), '-n', node, '--home', home])))
  for (const [i, run] of runs.entries()) {
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(sha256Hex(await readFile(join(dir.path, `a${i + 1}.bin`))), sha256Hex(data))
    assert.match(run.stderr, /back-source reason 1/)
    assert.ok((parseSummary(run.stderr)?.source ?? 0) >= 1.9 * MiB, run.stderr)
  }
  const state = await readState(home)
  assert.ok(state !== undefined, 'a peer server runs for the home')
  const again = await runDfgetProcess(['-u', origin.url('/a.bin'), '-o', join(dir.path, 'a3.bin'), '-n', node, '--home', home])
  assert.equal(again.exitCode, 0, again.stderr)
  assert.equal((await readState(home))?.pid, state.pid, 'the later run reused the peer server')
})

test('stdout carries only the data with -o -, and errors are one line with a status by area', async (t) => {
  const data = createTestData(300_000, 42)
  const origin = await startOrigin({ files: { '/b.bin': { data } } })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-e2e-dfget-')
  const home = join(dir.path, 'home')
  // After-hooks run in registration order: stop the detached peer server before removing its home.
  t.after(async () => { await stopPeerServer(home); await dir.close() })
  const piped = await runWithStdout(['-u', origin.url('/b.bin'), '-o', '-', '--home', home, '-p', 'source'])
  assert.equal(piped.exitCode, 0, piped.stderr)
  assert.ok(piped.stdout.equals(data), 'stdout is exactly the file')
  assert.match(piped.stderr, /^dfget: done .* from source [\d.]+ \S+, supernode 0 B, peers 0 B$/m)

  const bad = await runWithStdout(['-u', origin.url('/b.bin'), '-s', 'fast', '--home', home])
  assert.equal(bad.exitCode, 2)
  assert.equal(bad.stdout.length, 0)
  assert.match(bad.stderr.trim(), /^dfget: error DF_ERR_CONFIG_INVALID: --locallimit: invalid value "fast"[^\n]*$/)

  const missing = await runWithStdout(['-u', origin.url('/nope.bin'), '-o', join(dir.path, 'nope'), '-n', await deadNode(), '--home', home])
  assert.equal(missing.exitCode, 3)
  assert.match(missing.stderr.trim(), /^dfget: error DF_ERR_SOURCE_STATUS: source answered 404 for http:\/\/127\.0\.0\.1:\d+\/nope\.bin$/)
  await assert.rejects(access(join(dir.path, 'nope')))
})

test('a detached peer server stops by itself after --alivetime and removes its state file', async (t) => {
  const data = createTestData(100_000, 43)
  const origin = await startOrigin({ files: { '/c.bin': { data } } })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-e2e-dfget-')
  const home = join(dir.path, 'home')
  // After-hooks run in registration order: stop the detached peer server before removing its home.
  t.after(async () => { await stopPeerServer(home); await dir.close() })
  const run = await runDfgetProcess(['-u', origin.url('/c.bin'), '-o', join(dir.path, 'c'), '-n', await deadNode(), '--home', home, '--alivetime', '1s'])
  assert.equal(run.exitCode, 0, run.stderr)
  const deadline = Date.now() + 20_000
  while (existsSync(join(home, 'peer-server.json')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(existsSync(join(home, 'peer-server.json')), false, 'the state file is gone')
})

test('with bin/supernode, dfgets of two hosts download through the swarm', { skip: !existsSync(join(ROOT, 'dist', 'supernode', 'main.js')) && 'dist/supernode/main.js is not built' }, async (t) => {
  const data = createTestData(8 * MiB + 3, 44)
  const origin = await startOrigin({ files: { '/d.bin': { data } } })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-e2e-dfget-')
  const homes = [join(dir.path, 'h1'), join(dir.path, 'h2')]
  t.after(async () => { await Promise.all(homes.map(stopPeerServer)); await dir.close() })
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  t.after(() => stopChild(sn.child))
  const runs = await Promise.all(homes.map(async (home, i) => await runDfgetProcess(['-u', origin.url('/d.bin'), '-o', join(dir.path, `d${i}`), '-n', sn.node, '--home', home, '--notbs'])))
  for (const [i, run] of runs.entries()) {
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(sha256Hex(await readFile(join(dir.path, `d${i}`))), sha256Hex(data))
    const summary = parseSummary(run.stderr)
    assert.ok(summary !== undefined && summary.source === 0, run.stderr)
  }
  assert.ok(origin.readRatio('/d.bin') <= 1.05)
})

test('a download that waits with nothing else alive (the supernode answered "limited" and closed every connection) keeps the process until it finishes', async (t) => {
  const data = createTestData(3 * MiB + 5, 43)
  const origin = await startOrigin({ files: { '/w.bin': { data } } })
  t.after(() => origin.close())
  const dir = await createTmpDir('damselfly-e2e-dfget-')
  const home = join(dir.path, 'home')
  t.after(async () => { await stopPeerServer(home); await dir.close() })
  // A supernode of our own: it registers the task, answers the first pull "limited, retry in
  // 1.5 s" and every later one "the task failed" (so the client back-sources), and closes
  // each connection after its answer: during the pause the client has no socket open.
  let pulls = 0
  const supernode = createHttpServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify(body))
    }
    req.resume()
    req.once('end', () => {
      const url = req.url ?? ''
      // A supernode of before control protocol v2: the client falls back to pulls (v1).
      if (url.startsWith('/api/v2/')) return reply(404, { code: 'DF_ERR_ARG_ROUTE_NOT_FOUND', message: 'no such route' })
      if (req.method === 'POST' && url === '/api/v1/peers') return reply(200, { peerId: 'fake-peer-0001', ip: '127.0.0.1', port: 0, hostName: 'h', registeredAt: new Date().toISOString(), uploadsInFlight: 0, uploadedBytes: 0 })
      if (req.method === 'POST' && url === '/api/v1/tasks') return reply(200, { taskId: 'a'.repeat(64), fileLengthBytes: data.length, pieceSizeBytes: MiB, pieceCount: 4, cdnStatus: 'running', dataUrl: 'http://127.0.0.1:9/none' })
      if (req.method === 'GET' && url.startsWith('/api/v1/tasks/')) {
        pulls += 1
        return pulls === 1
          ? reply(200, { result: 'limited', retryAfterMs: 1500, reason: 'every source is busy' })
          : reply(502, { code: 'DF_ERR_TASK_FAILED', message: 'the CDN could not read the source' })
      }
      reply(200, {})
    })
  })
  await new Promise<void>((resolve) => { supernode.listen(0, '127.0.0.1', resolve) })
  t.after(() => { supernode.closeAllConnections(); supernode.close() })
  const node = `127.0.0.1:${(supernode.address() as AddressInfo).port}`
  const run = await runDfgetProcess(['-u', origin.url('/w.bin'), '-o', join(dir.path, 'w.bin'), '-n', node, '--home', home])
  assert.equal(run.exitCode, 0, run.stderr)
  assert.ok(pulls >= 2, `the client pulled again after the pause (${pulls} pulls)`)
  assert.equal(sha256Hex(await readFile(join(dir.path, 'w.bin'))), sha256Hex(data), run.stderr)
})
