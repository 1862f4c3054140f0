/**
 * Redirects behave the same in every reader of a source (issue 15): the supernode's CDN
 * (dfget through the swarm with --notbs, file and stream mode), dfget's back-source (`-p
 * source`, and no supernode reachable) and stream mode's (`--stream`, both ways). Each is
 * run against real origins on three loopback hosts: a 302 to the file, a chain of
 * redirects, a 307 to another host the policy allows, a redirect loop, and — where a source
 * policy exists (the supernode's) — a redirect to a denied host. dfget has no source policy
 * of its own; its refusal of a denied hop is the reader's, tested in
 * src/common/source/source-reader.test.ts.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createTestData, sha256Hex, startOrigin, type Origin } from './harness/origin.js'
import { startTestSupernode } from './harness/supernode.js'
import { startTestPeer, type TestPeer } from './harness/peer.js'
import { createSilentLogger } from '../src/common/log.js'
import { isCode, type ErrorCode } from '../src/protocol/errors.js'
import { resolveDfgetConfig, runDfget, runDfgetStream, type DfgetOptions } from '../src/dfget/index.js'

const MiB = 1024 * 1024
const DATA = createTestData(3 * MiB + 5, 151)

interface Hosts { readonly a: Origin, readonly b: Origin, readonly c: Origin }

/** Origin A (127.0.0.1) holds the redirect routes under `/<mode>/`; B (127.0.0.2) and C (127.0.0.3) the file. */
async function startHosts (t: TestContext, mode: string): Promise<Hosts> {
  const a = await startOrigin({ files: { [`/${mode}/f.bin`]: { data: DATA } } })
  t.after(() => a.close())
  const b = await startOrigin({ host: '127.0.0.2', files: { [`/${mode}/f.bin`]: { data: DATA } } })
  t.after(() => b.close())
  const c = await startOrigin({ host: '127.0.0.3', files: { [`/${mode}/f.bin`]: { data: DATA } } })
  t.after(() => c.close())
  const at = (path: string): string => `/${mode}/${path}`
  a.setRedirect(at('302'), { status: 302, location: at('f.bin') })
  a.setRedirect(at('chain1'), { status: 301, location: at('chain2') })
  a.setRedirect(at('chain2'), { status: 303, location: a.url(at('chain3')) })
  a.setRedirect(at('chain3'), { status: 308, location: at('f.bin') })
  a.setRedirect(at('cross'), { status: 307, location: b.url(at('f.bin')) })
  a.setRedirect(at('denied'), { status: 302, location: c.url(at('f.bin')) })
  a.setRedirect(at('loop1'), { status: 302, location: at('loop2') })
  a.setRedirect(at('loop2'), { status: 302, location: at('loop1') })
  return { a, b, c }
}

/** A download of `url` by one mode: resolves with the bytes' sha256, rejects with the run's error. */
type Download = (url: string) => Promise<string>

async function digestOf (body: Readable): Promise<string> {
  const hash = createHash('sha256')
  await pipeline(body, new Writable({ write (chunk: Buffer, _encoding, callback) { hash.update(chunk); callback() } }))
  return hash.digest('hex')
}

function fileMode (peer: TestPeer, options: DfgetOptions): Download {
  let runs = 0
  return async (url) => {
    const output = join(peer.homeDir, `out-${runs++}.bin`)
    await runDfget(resolveDfgetConfig({ home: peer.homeDir, url, output, ...options }), { logger: createSilentLogger(), peerServerLocator: peer.locator })
    return sha256Hex(await readFile(output))
  }
}

function streamMode (peer: TestPeer, options: DfgetOptions): Download {
  return async (url) => {
    const stream = await runDfgetStream(resolveDfgetConfig({ home: peer.homeDir, url, output: '-', stream: true, ...options }), { logger: createSilentLogger(), peerServerLocator: peer.locator })
    const digest = await digestOf(stream.body)
    await stream.result
    return digest
  }
}

/** The scenarios every mode passes; `deniedCode` only where a source policy applies. */
async function assertRedirects (hosts: Hosts, mode: string, download: Download, deniedCode?: ErrorCode): Promise<void> {
  const { a, b, c } = hosts
  const url = (path: string): string => a.url(`/${mode}/${path}`)
  const expected = sha256Hex(DATA)
  assert.equal(await download(url('302')), expected, '302 to the file')
  assert.equal(await download(url('chain1')), expected, 'a chain of 301, 303, 308')
  assert.ok(a.stats(`/${mode}/chain3`).requests >= 1, 'the chain was walked')
  assert.equal(await download(url('cross')), expected, '307 to another host')
  assert.ok(b.stats(`/${mode}/f.bin`).requests >= 1, 'the other host served the file')
  await assert.rejects(download(url('loop1')), (err: unknown) => isCode(err, 'DF_ERR_SOURCE_REDIRECT_LOOP'), 'a redirect loop')
  if (deniedCode !== undefined) {
    await assert.rejects(download(url('denied')), (err: unknown) => isCode(err, deniedCode), 'a redirect to a denied host')
    assert.equal(c.stats(`/${mode}/f.bin`).requests, 0, 'the denied host was never asked')
  }
}

/** A supernode that may fetch from hosts A and B only (C is denied), and one host with a peer server. */
async function startSwarm (t: TestContext): Promise<{ peer: TestPeer, node: string[] }> {
  const sn = await startTestSupernode(t, { sourceAllow: ['127.0.0.1', '127.0.0.2'], sourceDeny: ['127.0.0.3'] })
  const peer = await startTestPeer(t)
  return { peer, node: [new URL(sn.apiUrl).host] }
}

const DEAD_SUPERNODE = ['127.0.0.1:1']

test('the CDN follows redirects for a file download through the swarm, refuses a denied host and reports a loop', async (t) => {
  const hosts = await startHosts(t, 'cdn-file')
  const { peer, node } = await startSwarm(t)
  await assertRedirects(hosts, 'cdn-file', fileMode(peer, { node, notbs: true }), 'DF_ERR_SOURCE_FORBIDDEN')
})

test('the CDN follows redirects for a stream through the swarm, refuses a denied host and reports a loop', async (t) => {
  const hosts = await startHosts(t, 'cdn-stream')
  const { peer, node } = await startSwarm(t)
  await assertRedirects(hosts, 'cdn-stream', streamMode(peer, { node, notbs: true, window: '4' }), 'DF_ERR_SOURCE_FORBIDDEN')
})

test('dfget -p source follows redirects to the file and reports a loop', async (t) => {
  const hosts = await startHosts(t, 'source-file')
  await assertRedirects(hosts, 'source-file', fileMode(await startTestPeer(t), { pattern: 'source' }))
})

test('dfget with no supernode back-sources through redirects and reports a loop', async (t) => {
  const hosts = await startHosts(t, 'nosn-file')
  await assertRedirects(hosts, 'nosn-file', fileMode(await startTestPeer(t), { node: DEAD_SUPERNODE }))
})

test('dfget --stream -p source follows redirects to the file and reports a loop', async (t) => {
  const hosts = await startHosts(t, 'source-stream')
  await assertRedirects(hosts, 'source-stream', streamMode(await startTestPeer(t), { pattern: 'source' }))
})

test('dfget --stream with no supernode streams from the source through redirects and reports a loop', async (t) => {
  const hosts = await startHosts(t, 'nosn-stream')
  await assertRedirects(hosts, 'nosn-stream', streamMode(await startTestPeer(t), { node: DEAD_SUPERNODE }))
})
