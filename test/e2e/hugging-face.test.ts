/**
 * Hugging Face with real parts: a Hub-shaped origin we control (test/harness/hub-origin.ts:
 * the Hub's API, `/resolve/` with its redirect of LFS files to a store on another host,
 * X-Repo-Commit, X-Linked-Etag, X-Linked-Size, a gated repository), the built bin/supernode,
 * bin/dfget and bin/dfdaemon, and the real Hub client (huggingface_hub from PyPI: its `hf`
 * CLI and `snapshot_download`) installed by .ci/run in the repository's `.venv-hf/`
 * (DAMSELFLY_HF_VENV names another). Four hosts (four homes): two run `dfget hf://…`, two
 * run the Hub client with HF_ENDPOINT at their dfdaemon; every file is right, the output
 * directories look alike, and each large file is read from the origin once.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { runCommand, spawnDfdaemon, type StartedDfdaemon } from '../harness/dfdaemon-process.js'
import { startHubOrigin, type HubOrigin } from '../harness/hub-origin.js'
import { createTestData, sha256Hex } from '../harness/origin.js'
import { ROOT, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer, type StartedSupernode } from '../harness/processes.js'
import { createTmpDir } from '../harness/tmp-dir.js'

const MiB = 1024 * 1024
const VENV = process.env.DAMSELFLY_HF_VENV ?? join(ROOT, '.venv-hf')
const HF_CLI = join(VENV, 'bin', 'hf')
const PYTHON = join(VENV, 'bin', 'python')
const SKIP = existsSync(HF_CLI) && existsSync(PYTHON)
  ? false
  : `the Hugging Face client is not installed in ${VENV} (.ci/run installs it: python3 -m venv .venv-hf && .venv-hf/bin/pip install huggingface_hub)`

const SNAPSHOT_SCRIPT = 'import sys\nfrom huggingface_hub import snapshot_download\nprint(snapshot_download(repo_id=sys.argv[1], local_dir=sys.argv[2]))\n'

/** Every file under `dir` (relative paths), leaving out the Hub client's bookkeeping. */
async function filesOf (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1)).filter((path) => !path.startsWith('.cache/')).sort()
}

/** Every file under `dir`, as text. */
async function readAllText (dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  const texts = await Promise.all(entries.filter((entry) => entry.isFile()).map(async (entry) => await readFile(join(entry.parentPath, entry.name), 'utf8')))
  return texts.join('\n')
}

interface Fleet {
  readonly dir: string
  readonly hub: HubOrigin
  readonly sn: StartedSupernode
  readonly homes: readonly string[]
  readonly daemons: readonly StartedDfdaemon[]
  supernodeLog(): string
  /** Environment of a host's process: nothing of this test process's (no HF_TOKEN, no HOME). */
  env(home: string, extra?: Record<string, string>): NodeJS.ProcessEnv
}

async function startFleet (stack: CloseStack, repos: Parameters<typeof startHubOrigin>[0]['repos'], daemonHomes: number[]): Promise<Fleet> {
  const dir = stack.push(await createTmpDir('damselfly-hf-'))
  const hub = stack.push(await startHubOrigin({ repos }))
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  let supernodeLog = ''
  sn.child.stdout?.on('data', (chunk: Buffer) => { supernodeLog += chunk.toString() })
  sn.child.stderr?.on('data', (chunk: Buffer) => { supernodeLog += chunk.toString() })
  stack.defer(() => stopChild(sn.child))
  const homes = [1, 2, 3, 4].map((n) => join(dir.path, `host-${n}`))
  stack.defer(async () => { await Promise.all(homes.map(stopPeerServer)) })
  const daemons: StartedDfdaemon[] = []
  for (const index of daemonHomes) {
    const daemon = await spawnDfdaemon(['-n', sn.node, '--home', homes[index] ?? '', '--hf-endpoint', hub.endpoint, '--verbose'])
    stack.defer(() => daemon.close())
    daemons.push(daemon)
  }
  return {
    dir: dir.path,
    hub,
    sn,
    homes,
    daemons,
    supernodeLog: () => supernodeLog,
    env: (home, extra = {}) => ({
      PATH: process.env.PATH,
      HOME: home,
      HF_HOME: join(home, 'hf-home'),
      HF_HUB_DISABLE_TELEMETRY: '1',
      HF_HUB_DISABLE_PROGRESS_BARS: '1',
      // Xet stays enabled (hf_xet is installed): the Hub's Xet headers must not reach the client through dfdaemon.
      // The machine is shared: the client's 10 s default read timeout is short for 4 hosts
      // starting at once on 2 cores (a timed-out read resumes by Range, which works too).
      HF_HUB_DOWNLOAD_TIMEOUT: '120',
      HF_HUB_ETAG_TIMEOUT: '60',
      ...extra,
    }),
  }
}

test('4 hosts: dfget hf://… and the Hub client through dfdaemon download a repository; each large file read from the origin once', { skip: SKIP }, async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const repoId = 'damselfly/tiny-llm'
  const files: Record<string, Buffer> = {
    'model-00001-of-00002.safetensors': createTestData(65 * MiB + 7, 171),
    'model-00002-of-00002.safetensors': createTestData(66 * MiB + 3, 172),
    'config.json': Buffer.from('{"architectures": ["TinyLlm"], "hidden_size": 64}\n'),
    'tokenizer/tokenizer.json': Buffer.from(JSON.stringify({ vocab: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`t${i}`, i])) })),
    'README.md': Buffer.from('# tiny-llm\n'),
  }
  const large = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']
  const fleet = await startFleet(stack, [{ id: repoId, files }], [2, 3])
  const { hub, sn, homes, daemons } = fleet
  const outs = homes.map((home) => join(home, 'tiny-llm'))
  const [out1, out2, out3, out4] = outs as [string, string, string, string]
  const [daemon3, daemon4] = daemons as [StartedDfdaemon, StartedDfdaemon]

  const runs = await Promise.all([
    runDfgetProcess(['hf://damselfly/tiny-llm', '-o', out1, '-n', sn.node, '--home', homes[0] ?? '', '--hf-endpoint', hub.endpoint, '--notbs', '--verbose'], { env: fleet.env(homes[0] ?? '') }),
    runDfgetProcess(['-u', 'hf://damselfly/tiny-llm@main', '-o', out2, '-n', sn.node, '--home', homes[1] ?? '', '--notbs'], { env: fleet.env(homes[1] ?? '', { HF_ENDPOINT: hub.endpoint }) }),
    runCommand(HF_CLI, ['download', repoId, '--local-dir', out3], fleet.env(homes[2] ?? '', { HF_ENDPOINT: daemon3.baseUrl })),
    runCommand(PYTHON, ['-c', SNAPSHOT_SCRIPT, repoId, out4], fleet.env(homes[3] ?? '', { HF_ENDPOINT: daemon4.baseUrl })),
  ])
  const [dfget1, dfget2, hfCli, snapshot] = runs
  assert.equal(dfget1.exitCode, 0, dfget1.stderr)
  assert.equal(dfget2.exitCode, 0, dfget2.stderr)
  assert.equal(hfCli.code, 0, hfCli.output)
  assert.equal(snapshot.code, 0, snapshot.output)
  t.diagnostic(`wall: dfget ${Math.round(dfget1.wallMs)} / ${Math.round(dfget2.wallMs)} ms, hf download ${Math.round(hfCli.wallMs)} ms, snapshot_download ${Math.round(snapshot.wallMs)} ms`)

  // Every file right, on every host, laid out alike (the Hub client's --local-dir).
  for (const out of outs) {
    assert.deepEqual(await filesOf(out), Object.keys(files).sort(), out)
    for (const [path, data] of Object.entries(files)) assert.equal(sha256Hex(await readFile(join(out, path))), sha256Hex(data), `${out}/${path}`)
  }
  const commit = hub.commitOf(repoId)
  for (const path of Object.keys(files)) {
    const ours = (await readFile(join(out1, '.cache/huggingface/download', `${path}.metadata`), 'utf8')).split('\n')
    const theirs = (await readFile(join(out3, '.cache/huggingface/download', `${path}.metadata`), 'utf8')).split('\n')
    assert.equal(ours[0], commit, `${path}: the commit`)
    assert.deepEqual(ours.slice(0, 2), theirs.slice(0, 2), `${path}: dfget's record is the Hub client's (commit, etag)`)
  }

  // Each large file read from the origin (its LFS store) once across the 4 hosts: its bytes,
  // plus the one-byte probes that check each registration's access.
  for (const path of large) {
    const sent = hub.lfsBytesSent(repoId, path)
    const size = files[path]?.length ?? 0
    t.diagnostic(`${path}: the LFS store sent ${sent} bytes of ${size} (${(sent / size).toFixed(4)}x)`)
    assert.ok(sent >= size && sent <= size + 64, `${path}: the store sent ${sent} bytes, the file has ${size}`)
  }
  const tasks = (await (await fetch(`${sn.apiUrl}/api/v1/tasks`)).json()) as { tasks: { taskId: string, digest?: string }[] }
  const lfsDigests = large.map((path) => `sha256:${sha256Hex(files[path] ?? Buffer.alloc(0))}`).sort()
  assert.deepEqual(tasks.tasks.map((task) => task.digest).sort(), lfsDigests, 'one task per large file, named by its LFS sha256')
  // The Hub clients' large files came through the swarm (not from the Hub or its store).
  for (const daemon of daemons) {
    assert.equal(await daemon.metric('dragonfly_dfdaemon_swarm_route_bytes_total', 'source="swarm"'), large.reduce((sum, path) => sum + (files[path]?.length ?? 0), 0))
    assert.equal(await daemon.metric('dragonfly_dfdaemon_back_source_total'), 0)
  }

  // A directory dfget wrote is current for the Hub client: it fetches nothing again.
  const swarmBytesBefore = await daemon3.metric('dragonfly_dfdaemon_swarm_route_bytes_total')
  const storeBefore = large.map((path) => hub.lfsBytesSent(repoId, path))
  const again = await runCommand(HF_CLI, ['download', repoId, '--local-dir', out1], fleet.env(homes[2] ?? '', { HF_ENDPOINT: daemon3.baseUrl }))
  assert.equal(again.code, 0, again.output)
  assert.equal(await daemon3.metric('dragonfly_dfdaemon_swarm_route_bytes_total'), swarmBytesBefore, 'the client took dfget\'s files as current')
  assert.deepEqual(large.map((path) => hub.lfsBytesSent(repoId, path)), storeBefore)
})

test('a gated repository: without a token a clear error (exit 3), with HF_TOKEN it works; the token reaches no log and never the LFS store', { skip: SKIP }, async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const token = 'hf_damselflyGatedTokenZq8vW3nR5tY7uI9oP1'
  const repoId = 'damselfly/gated-llm'
  const files: Record<string, Buffer> = { 'weights.safetensors': createTestData(6 * MiB + 11, 181), 'config.json': Buffer.from('{"gated": true}\n') }
  const fleet = await startFleet(stack, [{ id: repoId, files, token }], [2])
  const { hub, sn, homes, daemons } = fleet
  const [daemon] = daemons as [StartedDfdaemon]
  const base = (home: string, out: string): string[] => ['hf://damselfly/gated-llm', '-o', out, '-n', sn.node, '--home', home, '--hf-endpoint', hub.endpoint, '--verbose']

  const noToken = await runDfgetProcess(base(homes[0] ?? '', join(fleet.dir, 'no-token')), { env: fleet.env(homes[0] ?? '') })
  assert.equal(noToken.exitCode, 3, noToken.stderr)
  assert.match(noToken.stderr, /^dfget: error DF_ERR_SOURCE_STATUS: hf:\/\/damselfly\/gated-llm@main: the Hub answered 401: the repository is gated or private: set HF_TOKEN[^\n]*\n$/)
  const wrongToken = await runDfgetProcess(base(homes[0] ?? '', join(fleet.dir, 'wrong-token')), { env: fleet.env(homes[0] ?? '', { HF_TOKEN: 'hf_notTheRightOne' }) })
  assert.equal(wrongToken.exitCode, 3, wrongToken.stderr)
  assert.match(wrongToken.stderr, /the Hub answered 403/)

  const out1 = join(fleet.dir, 'gated-1')
  const withToken = await runDfgetProcess(base(homes[0] ?? '', out1), { env: fleet.env(homes[0] ?? '', { HF_TOKEN: token }) })
  assert.equal(withToken.exitCode, 0, withToken.stderr)
  const out2 = join(fleet.dir, 'gated-2')
  const withHeader = await runDfgetProcess([...base(homes[1] ?? '', out2), '--header', `Authorization: Bearer ${token}`], { env: fleet.env(homes[1] ?? '') })
  assert.equal(withHeader.exitCode, 0, withHeader.stderr)

  // The Hub client through dfdaemon: refused without a token, served with one.
  const clientNoToken = await runCommand(HF_CLI, ['download', repoId, '--local-dir', join(fleet.dir, 'client-no-token')], fleet.env(homes[2] ?? '', { HF_ENDPOINT: daemon.baseUrl }))
  assert.notEqual(clientNoToken.code, 0, clientNoToken.output)
  assert.match(clientNoToken.output, /gated|restricted|401/i)
  const out3 = join(fleet.dir, 'gated-3')
  const client = await runCommand(HF_CLI, ['download', repoId, '--local-dir', out3], fleet.env(homes[2] ?? '', { HF_ENDPOINT: daemon.baseUrl, HF_TOKEN: token }))
  assert.equal(client.code, 0, client.output)

  for (const out of [out1, out2, out3]) {
    for (const [path, data] of Object.entries(files)) assert.equal(sha256Hex(await readFile(join(out, path))), sha256Hex(data), `${out}/${path}`)
  }
  const weights = hub.lfsBytesSent(repoId, 'weights.safetensors')
  assert.ok(weights <= (files['weights.safetensors']?.length ?? 0) + 64, `the store sent ${weights} bytes`)
  assert.ok(await daemon.metric('dragonfly_dfdaemon_swarm_route_bytes_total', 'source="swarm"') > 0, 'the client\'s weights came through the swarm')

  // The Hub saw the token; the LFS store never did; no log holds it.
  assert.ok(hub.requests.some((request) => request.authorization === `Bearer ${token}`))
  for (const headers of hub.store.stats(hub.storePathOf(repoId, 'weights.safetensors')).headers) assert.equal(headers.authorization, undefined, 'an Authorization reached the LFS store')
  const logs = [noToken.stderr, wrongToken.stderr, withToken.stderr, withHeader.stderr, fleet.supernodeLog(), daemon.logs(), ...await Promise.all(homes.map(async (home) => await readAllText(join(home, 'logs'))))].join('\n')
  assert.ok(logs.includes('gated-llm'), 'the logs were collected')
  assert.ok(!logs.includes(token) && !logs.includes('hf_notTheRightOne'), 'a log holds the token')
})
