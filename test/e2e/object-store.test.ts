/**
 * Object stores with real parts: a local S3-compatible store (s3rver, checking SigV4 on every
 * request), the real AWS SDK in dfget, and the built bin/supernode and bin/dfget. dfget signs
 * a GET with its own credentials and downloads the presigned URL through the swarm: hosts
 * with different credentials meet in one task (the signature is not part of its identity),
 * the store is read once, and no credential or signature appears in any log.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTestData, sha256Hex } from '../harness/origin.js'
import { runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { startS3Store, type S3Credentials } from '../harness/s3-store.js'
import { createTmpDir } from '../harness/tmp-dir.js'

const MiB = 1024 * 1024

/** Every file under `dir`, as text. */
async function readAllText (dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  const texts = await Promise.all(entries.filter((entry) => entry.isFile()).map(async (entry) => await readFile(join(entry.parentPath, entry.name), 'utf8')))
  return texts.join('\n')
}

test('dfget s3://… and --recursive through the swarm: SigV4 with the SDK, one task across credentials, the store read once, no credential logged', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const hostA: S3Credentials = { accessKeyId: 'AKIADAMSELFLYHOSTA01', secretAccessKey: 'hostAsecret/Zq8vW3nR5tY7uI9oP1aS3dF5gH7jK9lZ' }
  const hostB: S3Credentials = { accessKeyId: 'AKIADAMSELFLYHOSTB02', secretAccessKey: 'hostBsecret/Mn2bV4cX6zL8kJ0hG2fD4sA6pO8iU0yT' }
  const store = stack.push(await startS3Store({ buckets: ['models'], credentials: [hostA, hostB] }))
  const weights = createTestData(24 * MiB, 161)
  const tokenizer = createTestData(3 * MiB + 5, 162)
  const config = Buffer.from('{"layers": 32}\n')
  await store.put('models', 'llm/weights.bin', weights)
  await store.put('models', 'llm/sub/tokenizer.bin', tokenizer)
  await store.put('models', 'llm/config.json', config)
  await store.put('models', 'other/not-this.bin', Buffer.from('x'))

  const dir = stack.push(await createTmpDir('damselfly-s3-'))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  let supernodeLog = ''
  sn.child.stdout?.on('data', (chunk: Buffer) => { supernodeLog += chunk.toString() })
  sn.child.stderr?.on('data', (chunk: Buffer) => { supernodeLog += chunk.toString() })
  stack.defer(() => stopChild(sn.child))
  const homes = ['a', 'b', 'c'].map((name) => join(dir.path, `host-${name}`))
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })
  const envOf = (credentials: S3Credentials, extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH, HOME: dir.path, AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_REGION: 'us-east-1', ...extra,
  })

  // One object, two hosts with different credentials, at once.
  const single = await Promise.all([hostA, hostB].map(async (credentials, i) => await runDfgetProcess(
    ['-u', 's3://models/llm/weights.bin', '-o', join(dir.path, `weights-${i}.bin`), '-n', sn.node, '--home', homes[i] ?? '', '--s3-endpoint', store.endpoint, '--s3-path-style', '--notbs', '--verbose'],
    { env: envOf(credentials) })))
  for (const [i, run] of single.entries()) {
    assert.equal(run.exitCode, 0, `host ${i}: ${run.stderr}`)
    assert.equal(sha256Hex(await readFile(join(dir.path, `weights-${i}.bin`))), sha256Hex(weights))
  }
  const tasks = (await (await fetch(`${sn.apiUrl}/api/v1/tasks`)).json()) as { tasks: { taskId: string, urls?: string[] }[] }
  assert.equal(tasks.tasks.length, 1, 'both hosts met in one task')
  assert.deepEqual(tasks.tasks[0]?.urls, [`${store.endpoint}/models/llm/weights.bin?…`])
  for (const run of single) assert.ok(run.stderr.includes(`"taskId":"${tasks.tasks[0]?.taskId ?? '?'}"`) && run.stderr.includes('task registered'), '--verbose names the task the download joined')
  const weightsRead = store.bytesSent('models', 'llm/weights.bin')
  assert.ok(weightsRead >= weights.length && weightsRead <= weights.length + 16, `the store sent ${weightsRead} bytes of weights.bin (${weights.length})`)

  // A prefix, the endpoint from the environment: every object under it, at its key.
  const out = join(dir.path, 'snapshot')
  const recursive = await runDfgetProcess(
    ['-u', 's3://models/llm', '--recursive', '-o', out, '-n', sn.node, '--home', homes[2] ?? '', '--s3-path-style', '--notbs', '--verbose'],
    { env: envOf(hostB, { AWS_ENDPOINT_URL_S3: store.endpoint }) })
  assert.equal(recursive.exitCode, 0, recursive.stderr)
  assert.equal(sha256Hex(await readFile(join(out, 'weights.bin'))), sha256Hex(weights))
  assert.equal(sha256Hex(await readFile(join(out, 'sub/tokenizer.bin'))), sha256Hex(tokenizer))
  assert.deepEqual(await readFile(join(out, 'config.json')), config)
  assert.deepEqual((await readdir(out, { recursive: true })).sort(), ['config.json', 'sub', 'sub/tokenizer.bin', 'weights.bin'])
  assert.equal((recursive.stderr.match(/dfget: done /g) ?? []).length, 3, recursive.stderr)
  assert.ok(store.bytesSent('models', 'llm/weights.bin') <= weightsRead + 16, 'weights.bin came from the swarm, not the store again')
  t.diagnostic(`store reads: weights.bin ${store.gets('models', 'llm/weights.bin')} GETs, ${store.bytesSent('models', 'llm/weights.bin')} bytes of ${weights.length}; tokenizer.bin ${store.bytesSent('models', 'llm/sub/tokenizer.bin')} bytes of ${tokenizer.length}`)

  // Bad input: one line, exit 2, before anything is fetched.
  const noKey = await runDfgetProcess(['-u', 's3://models/llm/', '-n', sn.node, '--home', homes[2] ?? ''], { env: envOf(hostA) })
  assert.equal(noKey.exitCode, 2, noKey.stderr)
  const noCredentials = await runDfgetProcess(['-u', 's3://models/llm/weights.bin', '-o', join(dir.path, 'x'), '-n', sn.node, '--home', homes[2] ?? '', '--s3-endpoint', store.endpoint, '--s3-path-style'],
    { env: { PATH: process.env.PATH, HOME: dir.path, AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: join(dir.path, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir.path, 'none') } })
  assert.equal(noCredentials.exitCode, 2, noCredentials.stderr)
  assert.match(noCredentials.stderr, /^dfget: error DF_ERR_CONFIG_INVALID: no AWS credentials[^\n]*\n$/, 'one line, and no SDK warning')

  // No credential, signature or presigned query in any log: dfget's stderr (--verbose), the
  // hosts' logs, the supernode's.
  const logs = [...single.map((run) => run.stderr), recursive.stderr, supernodeLog, ...await Promise.all(homes.map(async (home) => await readAllText(join(home, 'logs'))))].join('\n')
  assert.ok(logs.includes('weights.bin'), 'the logs were collected')
  for (const secret of [hostA.accessKeyId, hostA.secretAccessKey, hostB.accessKeyId, hostB.secretAccessKey, 'X-Amz-Signature', 'X-Amz-Credential']) {
    assert.ok(!logs.includes(secret), `a log holds ${secret.slice(0, 12)}…`)
  }
})
