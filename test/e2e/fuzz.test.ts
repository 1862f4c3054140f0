/**
 * Bad input (issue 5, scenario 8): a few thousand random and malformed requests — methods,
 * paths (traversal, encodings, huge ids), query strings, Range headers, bodies (bad JSON,
 * wrong types, huge strings) and raw garbage on the socket — against the built supernode, a
 * peer server and dfdaemon. None may crash, none may answer a 5xx outside the documented
 * ones (a body with a code of the table, never DF_ERR_INTERNAL), and the supernode's memory
 * must be about the same afterwards. The RNG is seeded, so a failure replays.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { request } from 'undici'
import { CloseStack } from '../../src/common/lifecycle.js'
import { isErrorCode } from '../../src/protocol/errors.js'
import { createSeededRandom } from '../../src/supernode/scheduler/random.js'
import { createTestData, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { spawnDfdaemon } from '../harness/dfdaemon-process.js'

const TASK_ID = 'a'.repeat(64)

async function rssBytes (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? '0') * 1024
}

function isAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

test('thousands of random and malformed requests: no crash, no undocumented 5xx, memory stable', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data: createTestData(2 * 1024 * 1024, 71) } } }))
  const dir = stack.push(await createTmpDir('df-fuzz-')).path
  const sn = await spawnSupernode(join(dir, 'sn'))
  stack.defer(() => stopChild(sn.child))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const seed = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir, 'out'), '-n', sn.node, '--home', home])
  assert.equal(seed.exitCode, 0, seed.stderr)
  const peerState = JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number, port: number }
  const dfdaemon = await spawnDfdaemon(['--registry', origin.baseUrl, '-n', sn.node, '--home', join(dir, 'daemon-home')])
  stack.defer(() => dfdaemon.close())
  stack.defer(() => stopPeerServer(join(dir, 'daemon-home')))
  const taskId = (await (await fetch(`${sn.apiUrl}/api/v1/tasks`)).json() as { tasks: { taskId: string }[] }).tasks[0]?.taskId ?? TASK_ID

  const random = createSeededRandom(20261122)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T
  const junk = (max: number): string => Array.from({ length: Math.floor(random() * max) }, () => String.fromCharCode(32 + Math.floor(random() * 95))).join('')
  const segments = ['api', 'v1', 'tasks', 'peers', 'pieces', taskId, TASK_ID, '..', '%2e%2e', '%2F', 'etc', 'passwd', 'data', 'peer', 'uploads', '_ping', 'metrics', '0-0', '0-1048575', '-1-5', 'x'.repeat(300), '%00', '\u00e9', 'preheats', 'dashboard']
  const ranges = [undefined, 'bytes=0-0', 'bytes=0-1048575', 'bytes=-5', 'bytes=5-', 'bytes=9-1', 'bytes=0-99999999999', 'bytes=a-b', 'bytes=0-1,5-9', 'items=0-1', '', 'bytes=-', `bytes=${junk(20)}`]
  const bodies = [undefined, '', '{', '[]', 'null', '{"url":"file:///etc/passwd","peerId":"p","cid":"c"}', '{"peerId":"x","cid":"y","url":"http://127.0.0.1:1/x"}', '{"port":-1}', '{"port":"a","ip":"999.1.1.1"}', `{"url":"${'a'.repeat(5000)}"}`, '{"cid":{"$gt":""}}', '{"result":"success","cid":"x"}', '{"taskId":"../../etc/passwd","cid":"c","path":"/etc/passwd","fileLengthBytes":1,"pieceSizeBytes":1,"supernodes":[]}']
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']
  const targets = [
    { name: 'supernode', baseUrl: sn.apiUrl },
    { name: 'supernode data', baseUrl: sn.downloadUrl },
    { name: 'peer server', baseUrl: `http://127.0.0.1:${peerState.port}` },
    { name: 'dfdaemon', baseUrl: dfdaemon.baseUrl },
  ]
  const rssBefore = await rssBytes(sn.child.pid ?? 0)
  const undocumented: string[] = []
  const statuses = new Map<number, number>()
  const answeredBy = new Map<string, number>()
  const send = async (): Promise<void> => {
    const target = pick(targets)
    const path = '/' + Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(segments)).join('/') + (random() < 0.4 ? `?cid=${encodeURIComponent(junk(40))}&max=${junk(4)}&waitMs=${pick(['0', '-1', '99999999', 'x'])}` : '')
    const method = pick(methods)
    const body = method === 'GET' || method === 'HEAD' ? undefined : pick(bodies)
    const headers: Record<string, string> = {}
    const range = pick(ranges)
    if (range !== undefined) headers.range = range
    if (body !== undefined) headers['content-type'] = pick(['application/json', 'text/plain', 'application/json; charset=utf-8', junk(10) || 'x/y'])
    if (random() < 0.2) headers.authorization = `Bearer ${junk(30)}`
    try {
      const response = await request(`${target.baseUrl}${path}`, { method, headers, ...(body === undefined ? {} : { body }), headersTimeout: 10_000, bodyTimeout: 10_000 })
      const text = await response.body.text()
      statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1)
      answeredBy.set(target.name, (answeredBy.get(target.name) ?? 0) + 1)
      if (response.statusCode >= 500) {
        let code: unknown
        try { code = (JSON.parse(text) as { code?: unknown }).code } catch { code = undefined }
        if (!isErrorCode(code) || code === 'DF_ERR_INTERNAL') undocumented.push(`${target.name} ${method} ${path} → ${response.statusCode} ${text.slice(0, 120)}`)
      }
    } catch (err) {
      // A client-side refusal (undici rejects some malformed input itself) is not a server fault.
      if (!(err instanceof Error) || !/invalid|Invalid/.test(err.message)) undocumented.push(`${target.name} ${method} ${path}: ${String(err)}`)
    }
  }
  const total = 2000
  let sent = 0
  await Promise.all(Array.from({ length: 16 }, async () => { while (sent++ < total) await send() }))

  // Raw garbage on the sockets: a server must drop it and keep serving.
  for (const target of targets) {
    const { hostname, port } = new URL(target.baseUrl)
    for (const garbage of ['GARBAGE\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n', `GET /${'a'.repeat(70_000)} HTTP/1.1\r\n\r\n`, '\u0000\u0001\u0002\r\n\r\n']) {
      await new Promise<void>((resolve) => {
        const socket = connect(Number(port), hostname, () => { socket.end(garbage) })
        socket.on('error', () => { resolve() })
        socket.on('close', () => { resolve() })
        socket.setTimeout(5_000, () => { socket.destroy() })
        socket.resume()
      })
    }
  }

  assert.deepEqual(undocumented.slice(0, 10), [], `${undocumented.length} undocumented failures`)
  assert.ok(isAlive(sn.child.pid ?? 0), 'the supernode is alive')
  assert.ok(isAlive(peerState.pid), 'the peer server is alive')
  assert.ok(isAlive(dfdaemon.child.pid ?? 0), 'dfdaemon is alive')
  for (const target of targets.filter((x) => x.name !== 'dfdaemon')) {
    assert.ok((await request(`${target.baseUrl}/_ping`)).statusCode < 500, `${target.name} still answers`)
  }
  const rssAfter = await rssBytes(sn.child.pid ?? 0)
  assert.ok(rssAfter < rssBefore + 64 * 1024 * 1024, `supernode RSS grew from ${rssBefore} to ${rssAfter}`)
  // The requests reached every server (not refused on the client side) and got varied answers.
  for (const target of targets) assert.ok((answeredBy.get(target.name) ?? 0) > total / targets.length / 2, `${target.name} answered ${answeredBy.get(target.name) ?? 0} requests`)
  assert.ok(statuses.size >= 4, `answers: ${JSON.stringify([...statuses])}`)
})
