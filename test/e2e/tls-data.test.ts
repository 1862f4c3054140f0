/**
 * TLS on the data ports (issue 16): a supernode with `--tls-cert --tls-key --tls-data` and
 * host agents with `dfget server --tls-cert --tls-key --cacert`, all on one certificate
 * issued by a test CA for 127.0.0.1. dfgets with `--cacert` download correctly, the second
 * host's pieces coming from the first host's HTTPS port; the pieces handed out name https
 * URLs only; a plain-HTTP request to either data port gets no HTTP answer and no byte.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { connect } from 'node:net'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { SupernodeClient } from '../../src/supernode/client.js'
import { createTestData, sha256Hex, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { BIN, parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'

/** A CA and a server certificate for IP 127.0.0.1 that it signed (openssl). */
function issueCertificates (dir: string): { ca: string, cert: string, key: string } {
  const run = (args: string[]): void => { execFileSync('openssl', args, { stdio: 'ignore' }) }
  const ca = join(dir, 'ca.crt')
  const cert = join(dir, 'server.crt')
  const key = join(dir, 'server.key')
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'ca.key'), '-out', ca, '-days', '1', '-subj', '/CN=damselfly-test-ca'])
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', join(dir, 'server.csr'), '-subj', '/CN=127.0.0.1'])
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > "${join(dir, 'ext.cnf')}"`])
  run(['x509', '-req', '-in', join(dir, 'server.csr'), '-CA', ca, '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', cert, '-days', '1', '-extfile', join(dir, 'ext.cnf')])
  return { ca, cert, key }
}

/** What a plain-HTTP GET to a TLS port gets back: the bytes before the server closed the connection. */
async function plainHttpGet (url: string): Promise<Buffer> {
  const { hostname, port, pathname, search } = new URL(url)
  return await new Promise((resolve) => {
    const chunks: Buffer[] = []
    const socket = connect({ host: hostname, port: Number(port) }, () => { socket.write(`GET ${pathname}${search} HTTP/1.1\r\nhost: ${hostname}\r\nrange: bytes=0-1023\r\n\r\n`) })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.setTimeout(5_000, () => socket.destroy())
    socket.on('error', () => {})
    socket.on('close', () => { resolve(Buffer.concat(chunks)) })
  })
}

test('a swarm with TLS on every data port downloads correctly; a plain-HTTP request to a TLS data port is refused', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(6 * 1024 * 1024 + 7, 171)
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data } } }))
  const dir = stack.push(await createTmpDir('df-tls-data-')).path
  const { ca, cert, key } = issueCertificates(dir)
  await writeFile(join(dir, 'supernode.yaml'), `tlsCert: ${cert}\ntlsKey: ${key}\ntlsData: true\n`)
  const sn = await spawnSupernode(join(dir, 'sn'), ['--config', join(dir, 'supernode.yaml')])
  stack.defer(() => stopChild(sn.child))
  assert.match(sn.apiUrl, /^https:\/\//)
  assert.match(sn.downloadUrl, /^https:\/\//, 'the download port serves HTTPS')

  const homes = ['a', 'b'].map((name) => join(dir, name))
  for (const home of homes) {
    stack.defer(() => stopPeerServer(home))
    spawn(BIN('dfget'), ['server', '--home', home, '--ip', '127.0.0.1', '--tls-cert', cert, '--tls-key', key, '--cacert', ca], { stdio: 'ignore', detached: true }).unref()
  }
  const peerState = async (home: string): Promise<{ port: number }> => {
    for (let i = 0; i < 400; i++) {
      const state = await readFile(join(home, 'peer-server.json'), 'utf8').then((text) => JSON.parse(text) as { port: number }, () => undefined)
      if (state !== undefined) return state
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`no peer server in ${home}`)
  }
  for (const home of homes) await peerState(home)

  for (const [i, home] of homes.entries()) {
    const run = await runDfgetProcess(['-u', origin.url('/f.bin'), '-o', join(dir, `out-${i}`), '-n', sn.apiUrl, '--cacert', ca, '--home', home, '--notbs'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(sha256Hex(await readFile(join(dir, `out-${i}`))), sha256Hex(data))
    if (i === 1) assert.ok((parseSummary(run.stderr)?.peers ?? 0) > 0, `the second host got pieces from the first one's HTTPS port: ${run.stderr}`)
  }
  // One copy, plus the 1-byte access probes of the registrations.
  assert.ok(origin.stats('/f.bin').bytesSent <= data.length + 8, `the origin sent one copy: ${origin.stats('/f.bin').bytesSent}`)

  // Every piece source handed out is https; neither data port answers plain HTTP.
  const client = stack.push(new SupernodeClient({ baseUrl: sn.apiUrl, caCert: await readFile(ca) }))
  await client.registerPeer({ peerId: 'prober', ip: '127.0.0.1', port: 1 })
  const task = await client.registerTask({ peerId: 'prober', cid: 'prober-1', url: origin.url('/f.bin') })
  const answer = await client.pullPieceTasks(task.taskId, { cid: 'prober-1', max: 8 })
  assert.equal(answer.result, 'pieces')
  const urls = answer.result === 'pieces' ? answer.pieces.map((piece) => piece.url) : []
  assert.ok(urls.length > 0 && urls.every((url) => url.startsWith('https://127.0.0.1:')), urls.join(' '))
  const peerPieceUrl = urls.find((url) => !url.startsWith(sn.downloadUrl))
  for (const url of [task.dataUrl, ...(peerPieceUrl === undefined ? [] : [peerPieceUrl])]) {
    const answered = await plainHttpGet(url.replace(/^https:/, 'http:'))
    assert.ok(!answered.toString('latin1').startsWith('HTTP/1.1 2'), `${url}: ${answered.toString('latin1').slice(0, 60)}`)
    assert.equal(answered.indexOf(data.subarray(0, 64)), -1, `${url}: no piece bytes over plain HTTP`)
  }
})
