/**
 * The container image (`npm run image`, scripts/build-image.sh) run with podman: a supernode
 * in one container and a dfget in another download a file from an origin this test serves on
 * 127.0.0.1 (every container on the host's network, so nothing leaves loopback); a dfdaemon
 * container with a host dfget file mounted at /etc/damselfly/dfget.yml, as the Kubernetes
 * DaemonSet mounts it, answers /_ping on its port and its peer server on the file's port.
 *
 * Skipped only when podman or buildah is not installed, or when podman cannot run a
 * container at all here (checked with a probe image of /usr/bin/env alone, which does not
 * depend on ours); the skip names the command and its error.
 */
import { test, type TestContext } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, writeFile, cp, chmod } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTestData, startOrigin } from '../harness/origin.js'
import { metricValue, parseSummary, ROOT } from '../harness/processes.js'
import { createTmpDir } from '../harness/tmp-dir.js'

const MiB = 1024 * 1024

interface Run { readonly code: number, readonly stdout: Buffer, readonly stderr: string }

async function run (command: string, args: readonly string[], timeoutMs = 120_000): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(command, args, { encoding: 'buffer', maxBuffer: 64 * MiB, timeout: timeoutMs, cwd: ROOT }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1
      resolve({ code, stdout, stderr: stderr.toString('utf8') })
    })
  })
}

async function runOk (command: string, args: readonly string[], timeoutMs?: number): Promise<Run> {
  const result = await run(command, args, timeoutMs)
  assert.equal(result.code, 0, `${command} ${args.join(' ')} failed (${result.code}): ${result.stderr}`)
  return result
}

async function onPath (command: string): Promise<boolean> {
  return (await run('sh', ['-c', `command -v ${command}`])).code === 0
}

/**
 * podman asks the runtime for RLIMIT_NOFILE 1048576 by default; without CAP_SYS_RESOURCE (as
 * in this sandbox) runc then fails with "error setting rlimit type 7: operation not
 * permitted". The containers get limits this process already has.
 */
function ulimitArgs (): string[] {
  const limits = readFileSync('/proc/self/limits', 'utf8')
  const hard = (name: string, cap: number): number => {
    const match = new RegExp(`^${name}\\s+\\S+\\s+(\\S+)`, 'm').exec(limits)
    const value = match?.[1] === undefined || match[1] === 'unlimited' ? cap : Number(match[1])
    return Math.min(value, cap)
  }
  const nofile = hard('Max open files', 65536)
  const nproc = hard('Max processes', 4096)
  return ['--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`]
}

async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}

/** The first match of `pattern` in a container's stdout (its ready line), polled with a deadline. */
async function waitForLine (container: string, pattern: RegExp, timeoutMs = 30_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  let logs = ''
  while (Date.now() < deadline) {
    const result = await run('podman', ['logs', container])
    logs = result.stdout.toString('utf8')
    const match = pattern.exec(logs)
    if (match !== null) return match
    if ((await run('podman', ['container', 'exists', container])).code !== 0) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`container ${container} printed no ${String(pattern)} within ${timeoutMs} ms: ${logs}${(await run('podman', ['logs', container])).stderr}`)
}

async function waitForOk (url: string, timeoutMs = 30_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer'
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url)
      if (response.ok) return response
      last = `status ${response.status}`
    } catch (err) {
      last = String(err)
    }
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms: ${last}`)
}

/** Why podman cannot run a container here, or undefined when it can (a probe image of /usr/bin/env and its libraries). */
async function podmanUnusable (stack: CloseStack, tag: string, dir: string): Promise<string | undefined> {
  const context = join(dir, 'probe')
  await mkdir(join(context, 'rootfs/usr/bin'), { recursive: true })
  await cp('/usr/bin/env', join(context, 'rootfs/usr/bin/env'))
  const ldd = (await runOk('ldd', ['/usr/bin/env'])).stdout.toString('utf8')
  for (const lib of ldd.matchAll(/(\/\S+\.so[.\d]*)/g)) await cp(lib[1] ?? '', join(context, 'rootfs', lib[1] ?? ''), { dereference: true })
  await writeFile(join(context, 'Containerfile'), 'FROM scratch\nCOPY rootfs/ /\n')
  await runOk('buildah', ['build', '--quiet', '-f', join(context, 'Containerfile'), '-t', tag, context])
  stack.push({ close: async () => { await run('podman', ['rmi', '-f', tag]) } })
  const args = ['run', '--rm', '--network', 'host', ...ulimitArgs(), tag, '/usr/bin/env']
  const probe = await run('podman', args, 60_000)
  return probe.code === 0 ? undefined : `\`podman ${args.join(' ')}\` exited ${probe.code}: ${probe.stderr.trim()}`
}

test('the image: a supernode container and a dfget container download a file; a dfdaemon container serves /_ping and its peer server on the host file\'s port', { timeout: 240_000 }, async (t: TestContext) => {
  for (const tool of ['podman', 'buildah']) {
    if (!await onPath(tool)) {
      t.skip(`${tool} is not installed (Debian package ${tool}; .ci/run installs it)`)
      return
    }
  }
  const stack = new CloseStack()
  t.after(() => stack.close())
  const dir = stack.push(await createTmpDir('damselfly-image-'))
  const unique = `${process.pid}-${Date.now()}`
  const unusable = await podmanUnusable(stack, `localhost/damselfly-probe:${unique}`, dir.path)
  if (unusable !== undefined) {
    t.skip(`podman cannot run containers here: ${unusable}`)
    return
  }

  const image = `localhost/damselfly:test-${unique}`
  const build = await runOk('bash', [join(ROOT, 'scripts/build-image.sh'), image], 180_000)
  stack.push({ close: async () => { await run('podman', ['rmi', '-f', image]) } })
  const size = /image: (\d+) bytes/.exec(build.stdout.toString('utf8'))
  assert.ok(size !== null && Number(size[1]) < 200 * MiB, `the image is small: ${build.stdout.toString('utf8')}`)
  t.diagnostic(`image ${image}: ${((Number(size[1])) / MiB).toFixed(1)} MiB`)

  const data = createTestData(3 * MiB + 123, 7)
  const origin = stack.push(await startOrigin({ files: { '/blob.bin': { data } } }))
  const common = ['--network', 'host', ...ulimitArgs()]
  const containers: string[] = []
  stack.push({ close: async () => { if (containers.length > 0) await run('podman', ['rm', '-f', '-t', '2', ...containers]) } })

  // The supernode, in its container.
  const sn = (await runOk('podman', ['run', '-d', ...common, image, 'supernode', '--listen', '127.0.0.1', '--port', '0', '--download-port', '0', '--home-dir', '/var/lib/damselfly/supernode'])).stdout.toString('utf8').trim()
  containers.push(sn)
  const apiPort = Number(new URL((await waitForLine(sn, /supernode ready api=(\S+)/))[1] ?? '').port)
  await waitForOk(`http://127.0.0.1:${apiPort}/_ping`)

  // dfget, in another container: the file's bytes on stdout, the summary on stderr.
  const dfget = await runOk('podman', ['run', '--rm', ...common, image, 'dfget', '-u', origin.url('/blob.bin'), '-o', '-', '-n', `127.0.0.1:${apiPort}`], 120_000)
  assert.equal(dfget.stdout.length, data.length, `dfget wrote the whole file (stderr: ${dfget.stderr})`)
  assert.equal(createHash('sha256').update(dfget.stdout).digest('hex'), createHash('sha256').update(data).digest('hex'), 'the bytes are the origin\'s')
  const summary = parseSummary(dfget.stderr)
  assert.ok(summary !== undefined, `dfget printed its summary: ${dfget.stderr}`)
  assert.equal(summary.source, 0, 'dfget read nothing from the source itself: the swarm delivered')
  assert.ok(summary.supernode > 0, 'the supernode container served pieces')
  const metrics = await (await waitForOk(`http://127.0.0.1:${apiPort}/metrics`)).text()
  // The CDN read the file from the origin once (and may probe a range of a byte first).
  const cdnBytes = metricValue(metrics, 'dragonfly_supernode_cdn_download_size_bytes_total')
  assert.ok(cdnBytes >= data.length && cdnBytes < data.length + 4096, `the supernode's CDN read the file from the origin (${cdnBytes} bytes)`)
  assert.ok(origin.stats('/blob.bin').bytesSent < data.length + 4096, 'the origin sent the file once')

  // dfdaemon, with the host's dfget file mounted where the DaemonSet mounts it.
  // The peer port is fixed by the file (the point of the check), so a free one is picked here.
  const peerPort = await freePort()
  const etc = join(dir.path, 'etc')
  await mkdir(etc)
  await writeFile(join(etc, 'dfget.yml'), `port: ${peerPort}\nexpireTime: 30m\n`)
  await chmod(join(etc, 'dfget.yml'), 0o644)
  const daemon = (await runOk('podman', ['run', '-d', ...common, '-v', `${join(etc, 'dfget.yml')}:/etc/damselfly/dfget.yml:ro`, image, 'dfdaemon', '--listen', '127.0.0.1', '--port', '0', '-n', `127.0.0.1:${apiPort}`])).stdout.toString('utf8').trim()
  containers.push(daemon)
  const proxyPort = Number(new URL((await waitForLine(daemon, /dfdaemon ready proxy=(\S+)/))[1] ?? '').port)
  assert.equal(await (await waitForOk(`http://127.0.0.1:${proxyPort}/_ping`)).text(), 'OK')
  const peerPing = await (await waitForOk(`http://127.0.0.1:${peerPort}/_ping`)).json() as { pid?: number }
  assert.equal(typeof peerPing.pid, 'number', 'dfdaemon\'s peer server answers on the port of /etc/damselfly/dfget.yml')
  assert.match(await (await waitForOk(`http://127.0.0.1:${proxyPort}/metrics`)).text(), /dragonfly_dfdaemon_requests_total/)
})
