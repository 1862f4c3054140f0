/**
 * `dfdaemon setup` with real engines: containerd (Debian's, its CRI config_path on the hosts
 * directory) pulling with `ctr`, and dockerd with `docker pull`, both through the swarm
 * once set up; `--check` says so, and says what is missing before.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CloseStack } from '../../src/common/lifecycle.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { startRegistry } from '../harness/registry.js'
import { buildTestImage, pushImage } from '../harness/oci-image.js'
import { BIN, metricValue, spawnSupernode, stopChild, stopPeerServer } from '../harness/processes.js'
import { runCommand, spawnDfdaemon } from '../harness/dfdaemon-process.js'
import { startDaemonProcess } from '../harness/engines.js'

const MiB = 1024 * 1024

interface Run { code: number, stdout: string, stderr: string }

/** bin/dfdaemon with `args` to its end: status, stdout and stderr apart. */
async function dfdaemon (args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  const child = spawn(BIN('dfdaemon'), [...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise<number>((resolve) => child.once('close', (c) => { resolve(c ?? 1) }))
  return { code, stdout, stderr }
}

/** A `--check` that found the mirror not in effect: status 3 and one line naming what is missing. */
function assertNotInEffect (run: Run, missing: RegExp): void {
  assert.equal(run.code, 3, `${run.stdout}${run.stderr}`)
  assert.equal(run.stdout, '')
  assert.match(run.stderr, /^dfdaemon: error DF_ERR_PROXY_MIRROR_NOT_IN_EFFECT: [^\n]+\n$/)
  assert.match(run.stderr, missing)
}

test('setup containerd, then a real ctr pull and --check; setup docker, then a real docker pull and --check: through the swarm', async (t) => {
  const cleanup = new CloseStack()
  t.after(() => cleanup.close())
  const dir = await createTmpDir('damselfly-dfdaemon-setup-')
  cleanup.defer(() => dir.close())
  const registry = await startRegistry(join(dir.path, 'registry'))
  cleanup.defer(() => registry.close())
  const image = buildTestImage([2 * MiB, 3 * MiB], 21)
  await pushImage(registry.baseUrl, 'test/img', '1', image)
  const layerBytes = image.layers.reduce((sum, l) => sum + l.data.length, 0)
  const sn = await spawnSupernode(join(dir.path, 'supernode'))
  cleanup.defer(() => stopChild(sn.child))
  const home = join(dir.path, 'host')
  cleanup.defer(() => stopPeerServer(home))
  // One dfdaemon for both engines: containerd names the registry by ns=, dockerd does not (--registry).
  const daemon = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', home])
  cleanup.defer(() => daemon.close())
  const port = new URL(daemon.baseUrl).port
  const swarmBytes = async (): Promise<number> => await daemon.metric('dragonfly_dfdaemon_swarm_route_bytes_total', 'source="swarm"')

  // containerd, with its CRI registry config_path on the hosts directory.
  const ctrd = join(dir.path, 'containerd')
  const hostsDir = join(dir.path, 'certs.d')
  const containerdConfig = join(dir.path, 'containerd.toml')
  await writeFile(containerdConfig, [
    'version = 2', `root = "${ctrd}/root"`, `state = "${ctrd}/state"`, '[grpc]', `  address = "${ctrd}/containerd.sock"`,
    '[plugins."io.containerd.grpc.v1.cri".registry]', `  config_path = "${hostsDir}"`, '',
  ].join('\n'))
  const withoutConfigPath = join(dir.path, 'containerd-plain.toml')
  await writeFile(withoutConfigPath, `version = 2\nroot = "${ctrd}/root"\n`)
  const containerdArgs = ['--registry', registry.baseUrl, '--port', port, '--hosts-dir', hostsDir, '--containerd-config', containerdConfig]
  assertNotInEffect(await dfdaemon(['setup', 'containerd', '--check', ...containerdArgs]), /hosts\.toml does not exist/)
  const setUp = await dfdaemon(['setup', 'containerd', ...containerdArgs])
  assert.equal(setUp.code, 0, setUp.stderr)
  assert.match(setUp.stdout, new RegExp(`^dfdaemon: setup containerd: created ${hostsDir}/${registry.host}/hosts\\.toml`))
  assert.equal(await readFile(join(hostsDir, registry.host, 'hosts.toml'), 'utf8').then((text) => text.includes(`[host."${daemon.baseUrl}"]`)), true)
  const again = await dfdaemon(['setup', 'containerd', ...containerdArgs])
  assert.match(again.stdout, /^dfdaemon: setup containerd: unchanged /, 'idempotent')
  const inEffect = await dfdaemon(['setup', 'containerd', '--check', ...containerdArgs])
  assert.equal(inEffect.code, 0, inEffect.stderr)
  assert.match(inEffect.stdout, /^dfdaemon: setup containerd: in effect: /)
  assertNotInEffect(await dfdaemon(['setup', 'containerd', '--check', ...containerdArgs, '--containerd-config', withoutConfigPath]), /config_path/)

  const containerd = await startDaemonProcess('containerd', ['--config', containerdConfig], join(ctrd, 'containerd.sock'))
  cleanup.defer(() => containerd.close())
  const beforeCtr = await swarmBytes()
  const ctr = await runCommand('ctr', ['-a', join(ctrd, 'containerd.sock'), 'images', 'pull', '--hosts-dir', hostsDir, `${registry.host}/test/img:1`])
  assert.equal(ctr.code, 0, `${ctr.output}\n${daemon.logs()}`)
  assert.ok(await swarmBytes() - beforeCtr >= layerBytes, 'ctr\'s layers came through the swarm')

  // dockerd, its daemon.json without a mirror at first.
  const docker = join(dir.path, 'docker')
  const daemonJson = join(dir.path, 'daemon.json')
  const settings = {
    'data-root': `${docker}/data`, 'exec-root': `${docker}/exec`, pidfile: `${docker}/dockerd.pid`, hosts: [`unix://${docker}/docker.sock`],
    iptables: false, ip6tables: false, bridge: 'none',
  }
  await writeFile(daemonJson, JSON.stringify(settings))
  const dockerEnv = { ...process.env, DOCKER_HOST: `unix://${docker}/docker.sock` }
  assertNotInEffect(await dfdaemon(['setup', 'docker', '--check', '--port', port], dockerEnv), /docker info failed/)
  const dockerd = await startDaemonProcess('dockerd', ['--config-file', daemonJson], join(docker, 'docker.sock'), docker)
  cleanup.defer(() => dockerd.close())
  assertNotInEffect(await dfdaemon(['setup', 'docker', '--check', '--port', port], dockerEnv), /Registry Mirrors \(none\) do not include/)
  const dockerSetUp = await dfdaemon(['setup', 'docker', '--daemon-json', daemonJson, '--port', port])
  assert.equal(dockerSetUp.code, 0, dockerSetUp.stderr)
  assert.match(dockerSetUp.stdout, /^dfdaemon: setup docker: updated .*daemon\.json \(the old one is .*daemon\.json\.damselfly-backup\)/)
  assert.deepEqual(JSON.parse(await readFile(daemonJson, 'utf8')), { ...settings, 'registry-mirrors': [daemon.baseUrl] }, 'every other key kept')
  assert.deepEqual(JSON.parse(await readFile(`${daemonJson}.damselfly-backup`, 'utf8')), settings)
  // The file alone is not in effect: the running dockerd has not read it.
  assertNotInEffect(await dfdaemon(['setup', 'docker', '--check', '--port', port], dockerEnv), /do not include/)
  dockerd.child.kill('SIGHUP') // dockerd reloads registry-mirrors
  const deadline = Date.now() + 15_000
  let check = await dfdaemon(['setup', 'docker', '--check', '--port', port], dockerEnv)
  while (check.code !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    check = await dfdaemon(['setup', 'docker', '--check', '--port', port], dockerEnv)
  }
  assert.equal(check.code, 0, check.stderr)
  assert.match(check.stdout, /^dfdaemon: setup docker: in effect: /)
  const beforeDocker = await swarmBytes()
  const pull = await runCommand('docker', ['pull', 'test/img:1'], dockerEnv)
  assert.equal(pull.code, 0, `${pull.output}\n${daemon.logs()}`)
  assert.ok(await swarmBytes() - beforeDocker >= layerBytes, 'docker\'s layers came through the swarm')
  const metrics = await (await fetch(`${sn.apiUrl}/metrics`)).text()
  assert.ok(metricValue(metrics, 'dragonfly_supernode_pieces_downloaded_size_bytes_total') > 0, 'the supernode served pieces')
  assert.equal(await daemon.metric('dragonfly_dfdaemon_back_source_total'), 0, daemon.logs())
})
