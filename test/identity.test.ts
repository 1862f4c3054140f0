/**
 * Task identity with real servers (docs/identity.md): a supernode in process, in-process
 * dfgets with their own peer servers, and a real origin.
 * - Presigned URLs: 8 hosts fetch one object through 8 URLs that differ only in their
 *   signature, each signature expiring once a later one is used: one task, the origin read
 *   once, and the CDN's reads (a broken read resumed) go with the most recent URL.
 * - Stated digests: a source that states the content's digest (Repr-Digest, Hugging Face's
 *   X-Linked-Etag on its redirect) makes other URLs of the same content, and a registration
 *   by digest, meet in one task: a preheat under one URL is hit under another. A stated
 *   digest the bytes do not match fails the task.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../src/common/lifecycle.js'
import { createSilentLogger } from '../src/common/log.js'
import { resolveDfgetConfig, runDfget, type DfgetResult } from '../src/dfget/index.js'
import { isCode } from '../src/protocol/errors.js'
import { digestTaskId } from '../src/protocol/task-id.js'
import type { SupernodeClient } from '../src/supernode/client.js'
import { createTestData, createUrlSignatures, sha256Hex, startOrigin } from './harness/origin.js'
import { startTestPeer, type TestPeer } from './harness/peer.js'
import { startTestSupernode } from './harness/supernode.js'
import { createTmpDir } from './harness/tmp-dir.js'

const MiB = 1024 * 1024

async function waitFor (condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise<void>((resolve) => { setTimeout(resolve, 5) })
  }
}

async function clientCount (client: SupernodeClient): Promise<number> {
  const { tasks } = await client.listTasks()
  return tasks.reduce((sum, task) => sum + task.clients.length, 0)
}

function download (args: { url: string, output: string, supernode: string, peer: TestPeer, dir: string, digest?: string }): Promise<DfgetResult> {
  const config = resolveDfgetConfig({ url: args.url, output: args.output, node: [args.supernode], home: args.peer.homeDir, notbs: true, digest: args.digest }, args.dir)
  return runDfget(config, { logger: createSilentLogger(), peerServerLocator: args.peer.locator })
}

test('8 hosts, 8 presigned URLs of one object, each expiring once a later one is used: one task, the origin read once, all outputs correct', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(32 * MiB, 151)
  const signatures = createUrlSignatures()
  // Throttled, so the CDN is still reading while the hosts register; its main read breaks
  // after 8 MiB and is resumed with whatever URL the task has then.
  const origin = stack.push(await startOrigin({
    files: { '/bucket/model.bin': { data, signatures, faults: { throttleBytesPerSec: 24 * MiB, perRequest: (n) => n === 2 ? { dropAfterBytes: 8 * MiB } : undefined } } },
  }))
  const dir = stack.push(await createTmpDir('damselfly-identity-'))
  const sn = stack.push(await startTestSupernode())
  const supernode = new URL(sn.apiUrl).host
  const peers = await Promise.all(Array.from({ length: 8 }, async () => stack.push(await startTestPeer())))

  const runs: Promise<DfgetResult>[] = []
  for (const [i, peer] of peers.entries()) {
    const query = signatures.issue()
    const run = download({ url: `${origin.url('/bucket/model.bin')}?versionId=7&${query}`, output: join(dir.path, `out-${i}`), supernode, peer, dir: dir.path })
    run.catch(() => undefined) // awaited below; a failure before then is not unhandled
    runs.push(run)
    // Registered: the supernode lists a cid from the start of its registration (its dfget
    // task record), then checks it against the source with the registration's own URL,
    // which uses its signature. The next host starts only after that check: its newer
    // signature would expire this one while the check is still on its way (a 403 here).
    await waitFor(async () => signatures.isUsed(query) && await clientCount(sn.client) >= i + 1, 20_000, `host ${i} to register`)
  }
  const results = await Promise.all(runs)

  const { tasks } = await sn.client.listTasks()
  assert.equal(tasks.length, 1, 'one task for the 8 URLs')
  const [task] = tasks
  assert.ok(task !== undefined)
  for (const [i, result] of results.entries()) {
    assert.equal(result.taskId, task.taskId, `host ${i} joined the task`)
    assert.equal(result.bytesFromSource, 0, `host ${i} went to the source`)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), sha256Hex(data), `host ${i}'s output`)
  }
  assert.deepEqual(task.urls, [`${origin.baseUrl}/bucket/model.bin?…`], 'the task shows its URL without the signature')
  // Each registration proves its own URL against the source (docs/security.md): a proof that
  // lands while the CDN re-opens its read makes the CDN's URL expire a moment before the
  // proven one takes its place, and that read is refused once, then made with the newer URL.
  assert.ok(signatures.refused <= peers.length, `${signatures.refused} requests went with an expired signature`)
  const stats = origin.stats('/bucket/model.bin')
  assert.ok(stats.requests >= 3, `the CDN's read was broken and resumed (${stats.requests} requests)`)
  assert.ok(stats.bytesSent <= data.length + 256 * 1024, `the origin sent ${stats.bytesSent} bytes for ${data.length}: read once`)
  t.diagnostic(`origin: ${stats.requests} requests, ${stats.bytesSent} bytes for a ${data.length}-byte file (${origin.readRatio('/bucket/model.bin').toFixed(4)}x)`)
})

test('a digest the source states joins its URLs in one task: a preheat under one URL is hit under another, and by digest', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(8 * MiB, 152)
  const hex = sha256Hex(data)
  const base64 = Buffer.from(hex, 'hex').toString('base64')
  const origin = stack.push(await startOrigin({
    files: {
      '/mirror-a/weights.bin': { data, headers: { 'repr-digest': `sha-256=:${base64}:` } },
      '/mirror-b/weights.bin': { data, headers: { digest: `SHA-256=${base64}` } },
      '/lfs/blob': { data },
    },
    // Hugging Face: the resolve URL redirects to LFS storage, stating the file's sha256.
    redirects: { '/org/model/resolve/main/weights.bin': { status: 302, location: '/lfs/blob', headers: { 'x-linked-etag': `"${hex}"` } } },
  }))
  const dir = stack.push(await createTmpDir('damselfly-identity-'))
  const sn = stack.push(await startTestSupernode())
  const supernode = new URL(sn.apiUrl).host

  const preheat = await sn.client.createPreheat({ type: 'file', url: origin.url('/mirror-a/weights.bin') })
  await waitFor(async () => (await sn.client.getPreheat(preheat.id)).status === 'success', 20_000, 'the preheat')
  const taskId = (await sn.client.getPreheat(preheat.id)).tasks[0]?.taskId
  assert.ok(taskId !== undefined)
  const readA = origin.stats('/mirror-a/weights.bin').bytesSent
  assert.ok(readA <= data.length + 16)

  const urls = [origin.url('/mirror-b/weights.bin'), origin.url('/org/model/resolve/main/weights.bin'), origin.url('/mirror-b/weights.bin')]
  for (const [i, url] of urls.entries()) {
    const peer = stack.push(await startTestPeer())
    const result = await download({ url, output: join(dir.path, `out-${i}`), supernode, peer, dir: dir.path })
    assert.equal(result.taskId, taskId, `${url} met the preheated task`)
    assert.equal(result.bytesFromSource, 0)
    assert.equal(sha256Hex(await readFile(join(dir.path, `out-${i}`))), hex)
  }
  // By digest, as dfdaemon registers a blob: the same task.
  const byDigest = await download({ url: origin.url('/elsewhere/blob'), output: join(dir.path, 'out-digest'), supernode, peer: stack.push(await startTestPeer()), dir: dir.path, digest: `sha256:${hex}` })
  assert.equal(byDigest.taskId, taskId)

  assert.equal(origin.stats('/mirror-a/weights.bin').bytesSent, readA, 'not one byte more from the preheated URL')
  assert.ok(origin.stats('/mirror-b/weights.bin').bytesSent <= 1, 'the other mirror was only probed (one byte), once')
  assert.ok(origin.stats('/lfs/blob').bytesSent <= 1, 'the LFS storage was only probed')
  const { tasks } = await sn.client.listTasks()
  assert.equal(tasks.length, 1)
  assert.equal(tasks[0]?.digest, `sha256:${hex}`)
  assert.deepEqual(new Set(tasks[0]?.urls), new Set([`${origin.baseUrl}/mirror-a/weights.bin`, `${origin.baseUrl}/mirror-b/weights.bin`, `${origin.baseUrl}/org/model/resolve/main/weights.bin`, `${origin.baseUrl}/elsewhere/blob`]))
  assert.ok(tasks[0]?.aliases?.includes(digestTaskId(`sha256:${hex}`)))
})

test('a stated digest the bytes do not match fails the task: nothing is cached, a --notbs download fails', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(4 * MiB, 153)
  const wrong = Buffer.alloc(32, 7).toString('base64')
  const origin = stack.push(await startOrigin({ files: { '/f.bin': { data, headers: { 'x-amz-checksum-sha256': wrong } } } }))
  const dir = stack.push(await createTmpDir('damselfly-identity-'))
  const sn = stack.push(await startTestSupernode())
  const peer = stack.push(await startTestPeer())
  await assert.rejects(download({ url: origin.url('/f.bin'), output: join(dir.path, 'out'), supernode: new URL(sn.apiUrl).host, peer, dir: dir.path }),
    (err: unknown) => isCode(err, 'DF_ERR_TASK_SWARM_FAILED') || isCode(err, 'DF_ERR_TASK_FAILED'))
  const { tasks } = await sn.client.listTasks()
  assert.equal(tasks[0]?.cdnStatus, 'failed')
})
