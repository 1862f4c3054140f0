/**
 * The host agent as a user meets it: `dfget` hands its download to the home's long-lived
 * agent (`dfget server`, started on demand) over `<home>/agent.sock`, and behaves as before:
 * same output, summary and exit statuses. A client that goes away cancels its run and leaves
 * nothing behind; the agent goes on serving the next one.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { access, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { startOrigin, createTestData, sha256Hex } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { CloseStack } from '../../src/common/lifecycle.js'
import { BIN, parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { processCpuMs } from '../../scripts/lib/process-cpu.js'

const MiB = 1024 * 1024

async function agentPid (home: string): Promise<number> {
  return (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number }).pid
}

test('dfget starts the home\'s agent, which runs its downloads: the agent does the work, later runs reuse it, stdout and stream mode relay the bytes', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(48 * MiB, 61)
  const digest = sha256Hex(data)
  const origin = stack.push(await startOrigin({ files: { '/a.bin': { data } } }))
  const dir = stack.push(await createTmpDir('df-agent-', true)).path
  const sn = await spawnSupernode(join(dir, 'sn'))
  stack.defer(() => stopChild(sn.child))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const url = origin.url('/a.bin')

  const first = await runDfgetProcess(['-u', url, '-o', join(dir, 'out-1'), '-n', sn.node, '--home', home])
  assert.equal(first.exitCode, 0, first.stderr)
  assert.equal(sha256Hex(await readFile(join(dir, 'out-1'))), digest)
  assert.match(first.stderr, /^dfget: done .* from source 0 B, supernode [\d.]+ MiB, peers 0 B$/m)
  assert.ok((await stat(join(home, 'agent.sock'))).isSocket(), 'the agent listens on <home>/agent.sock')
  const pid = await agentPid(home)

  // The second run goes to the same agent, which does the download (its CPU grows by more
  // than the thin client's whole run costs).
  const before = await processCpuMs(pid)
  const second = await runDfgetProcess(['-u', url, '-o', join(dir, 'out-2'), '-n', sn.node, '--home', home, '--verbose'])
  assert.equal(second.exitCode, 0, second.stderr)
  // The run's log lines, relayed to --verbose's stderr, come from the agent's process.
  assert.match(second.stderr, new RegExp(`"pid":${pid},[^\n]*"msg":"task registered"`), 'the agent registered the task')
  assert.equal(sha256Hex(await readFile(join(dir, 'out-2'))), digest)
  assert.equal(await agentPid(home), pid, 'the later run reused the agent')
  assert.ok(await processCpuMs(pid) - before > 50, 'the agent did the download')

  for (const args of [['-o', '-'], ['--stream', '-o', '-']]) {
    const child = spawn(BIN('dfget'), ['-u', url, ...args, '-n', sn.node, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks: Buffer[] = []
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { chunks.push(chunk) })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    const code = await new Promise((resolve) => child.once('close', resolve))
    assert.equal(code, 0, stderr)
    assert.equal(sha256Hex(Buffer.concat(chunks)), digest, `${args.join(' ')}: stdout is the file`)
    assert.ok(parseSummary(stderr) !== undefined, stderr)
  }

  // Errors keep their exit status by area through the agent.
  const missing = await runDfgetProcess(['-u', origin.url('/missing.bin'), '-o', join(dir, 'missing'), '-n', sn.node, '--home', home, '--notbs'])
  assert.equal(missing.exitCode, 3, missing.stderr)
  assert.match(missing.stderr.trim(), /^dfget: error DF_ERR_SOURCE_STATUS: source answered 404/)
  await assert.rejects(access(join(dir, 'missing')))
})

test('a dfget interrupted part-way cancels its run in the agent: no output, no data file left, and the agent serves the next run', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(64 * MiB, 62)
  // Slow enough to interrupt part-way.
  const origin = stack.push(await startOrigin({ files: { '/slow.bin': { data, faults: { throttleBytesPerSec: 8 * MiB } }, '/fast.bin': { data } } }))
  const dir = stack.push(await createTmpDir('df-agent-cancel-', true)).path
  const sn = await spawnSupernode(join(dir, 'sn'))
  stack.defer(() => stopChild(sn.child))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const warm = await runDfgetProcess(['-u', origin.url('/fast.bin'), '-o', join(dir, 'warm'), '-n', sn.node, '--home', home])
  assert.equal(warm.exitCode, 0, warm.stderr)
  const dataFilesBefore = (await readdir(join(home, 'data'))).length

  const child = spawn(BIN('dfget'), ['-u', origin.url('/slow.bin'), '-o', join(dir, 'slow'), '-n', sn.node, '--home', home], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  child.kill('SIGINT')
  const code = await new Promise((resolve) => child.once('close', resolve))
  assert.notEqual(code, 0, stderr)
  assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`)
  await assert.rejects(access(join(dir, 'slow')), 'no output after an interrupted run')
  // The agent cleans up the cancelled run's data file.
  const deadline = Date.now() + 5_000
  while ((await readdir(join(home, 'data'))).length > dataFilesBefore && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal((await readdir(join(home, 'data'))).length, dataFilesBefore, 'the cancelled run left no data file')

  const next = await runDfgetProcess(['-u', origin.url('/fast.bin'), '-o', join(dir, 'next'), '-n', sn.node, '--home', home])
  assert.equal(next.exitCode, 0, next.stderr)
  assert.equal(sha256Hex(await readFile(join(dir, 'next'))), sha256Hex(data))
})

/** Runs `dfget args | consumer` in bash (a real pipe on dfget's stdout, as a user's shell gives it); the exit status is dfget's. */
async function runPiped (args: readonly string[], consumer: string): Promise<{ code: number | null, stderr: string }> {
  const child = spawn('bash', ['-c', `"$0" "$@" | ${consumer}; exit "\${PIPESTATUS[0]}"`, BIN('dfget'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
  return { code, stderr }
}

test('with a pipe on its stdout, dfget\'s agent writes the file into the pipe itself: whole in file and stream mode, a reader that stops early ends the run with its documented status, and the agent serves the next run', async (t) => {
  const stack = new CloseStack()
  t.after(() => stack.close())
  const data = createTestData(24 * MiB, 63)
  const digest = sha256Hex(data)
  const origin = stack.push(await startOrigin({ files: { '/a.bin': { data } } }))
  const dir = stack.push(await createTmpDir('df-agent-pipe-', true)).path
  const sn = await spawnSupernode(join(dir, 'sn'))
  stack.defer(() => stopChild(sn.child))
  const home = join(dir, 'home')
  stack.defer(() => stopPeerServer(home))
  const run = ['-u', origin.url('/a.bin'), '-n', sn.node, '--home', home]

  for (const [i, mode] of [['-o', '-'], ['--stream', '-o', '-']].entries()) {
    const out = join(dir, `piped-${i}`)
    const piped = await runPiped([...run, ...mode, '--verbose'], `cat > '${out}'`)
    assert.equal(piped.code, 0, piped.stderr)
    assert.equal(sha256Hex(await readFile(out)), digest, `${mode.join(' ')}: the pipe carried the file`)
    assert.match(piped.stderr, /"msg":"writing into the client's stdout pipe"/, `${mode.join(' ')}: the agent wrote the pipe, the client relayed nothing`)
    assert.ok(parseSummary(piped.stderr) !== undefined, piped.stderr)
  }

  // A reader that stops early: what dfget said when it wrote the pipe itself (docs/dfget.md:
  // stream mode 1, DF_ERR_INTERNAL; a finished file that cannot be written out 4).
  const streamCut = await runPiped([...run, '--stream', '-o', '-'], 'head -c 1000 > /dev/null')
  assert.equal(streamCut.code, 1, streamCut.stderr)
  assert.equal(streamCut.stderr.trim(), 'dfget: error DF_ERR_INTERNAL: write EPIPE')
  const fileCut = await runPiped([...run, '-o', '-'], 'head -c 1000 > /dev/null')
  assert.equal(fileCut.code, 4, fileCut.stderr)
  assert.equal(fileCut.stderr.trim(), 'dfget: error DF_ERR_TASK_WRITE_FAILED: cannot write to stdout: EPIPE')

  const next = await runDfgetProcess([...run, '-o', join(dir, 'next')])
  assert.equal(next.exitCode, 0, next.stderr)
  assert.equal(sha256Hex(await readFile(join(dir, 'next'))), digest)
})
