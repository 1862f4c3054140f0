/**
 * Supernode discovery by DNS (issue 17, item 3) with the built binaries: a fleet of hosts
 * whose only supernode setting is one SRV name, served by a DNS server of ours on loopback
 * (test/harness/dns-server.ts). Changing only the DNS answer moves the fleet's new
 * downloads to another supernode, and a download in progress follows by failover.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { SupernodeClient } from '../../src/supernode/client.js'
import { computeTaskId } from '../../src/protocol/task-id.js'
import { isCode } from '../../src/protocol/errors.js'
import { startDnsServer, type Zone } from '../harness/dns-server.js'
import { createTestData, sha256Hex, startOrigin } from '../harness/origin.js'
import { createTmpDir } from '../harness/tmp-dir.js'
import { metricValue, parseSummary, runDfgetProcess, runToExit, spawnSupernode, stopChild, stopPeerServer, type DfgetRun, type StartedSupernode } from '../harness/processes.js'
import { startRegistry } from '../harness/registry.js'
import { buildTestImage, pushImage } from '../harness/oci-image.js'
import { spawnDfdaemon } from '../harness/dfdaemon-process.js'

const MiB = 1024 * 1024
const SERVICE = '_api._tcp.supernode.fleet.test'

/** The zone of a headless Service whose one ready pod is `sn`. */
function zoneOf (name: string, sn: StartedSupernode): Zone {
  const port = Number(new URL(sn.apiUrl).port)
  return {
    [SERVICE]: { SRV: [{ target: `${name}.supernode.fleet.test`, port }] },
    [`${name}.supernode.fleet.test`]: { A: ['127.0.0.1'] },
  }
}

/** The cids of the task of `url` at a supernode (none when it does not know the task). */
async function clientsAt (client: SupernodeClient, url: string): Promise<{ cid: string, status: string, donePieces: number }[]> {
  try {
    return (await client.getTask(computeTaskId({ url }))).clients.map((c) => ({ cid: c.cid, status: c.status, donePieces: c.donePieces }))
  } catch (err) {
    if (isCode(err, 'DF_ERR_TASK_NOT_FOUND')) return []
    throw err
  }
}

async function assertComplete (run: DfgetRun, output: string, digest: string, label: string): Promise<void> {
  assert.equal(run.exitCode, 0, `${label}: ${run.stderr}`)
  assert.equal(sha256Hex(await readFile(output)), digest, `${label}: the output is the source's bytes`)
}

test('a fleet configured with one SRV name moves between supernodes when only the DNS answer changes, also a download in progress', async (t) => {
  const signal = AbortSignal.timeout(90_000)
  const dir = (await createTmpDir('df-dns-')).path
  const files = { '/one.bin': createTestData(3 * MiB, 171), '/two.bin': createTestData(3 * MiB, 172), '/three.bin': createTestData(12 * MiB, 173) }
  const origin = await startOrigin({ files: Object.fromEntries(Object.entries(files).map(([path, data]) => [path, { data }])) })
  t.after(() => origin.close())
  const started = await Promise.allSettled([spawnSupernode(join(dir, 'sn-a')), spawnSupernode(join(dir, 'sn-b'))])
  for (const outcome of started) if (outcome.status === 'fulfilled') t.after(() => stopChild(outcome.value.child))
  const [snA, snB] = started.map((outcome) => { if (outcome.status === 'rejected') throw outcome.reason; return outcome.value })
  assert.ok(snA !== undefined && snB !== undefined)
  const clientA = new SupernodeClient({ baseUrl: snA.apiUrl })
  t.after(() => clientA.close())
  const clientB = new SupernodeClient({ baseUrl: snB.apiUrl })
  t.after(() => clientB.close())
  const dns = await startDnsServer(zoneOf('sn-a', snA))
  t.after(() => dns.close())

  // Every host's whole supernode configuration, the same in every run below.
  const hosts = ['h1', 'h2'].map((name) => join(dir, name))
  t.after(async () => { await Promise.all(hosts.map(stopPeerServer)) })
  const outputOf = (home: string, path: string): string => `${home}${path.replace('/', '-')}`
  const fleetArgs = (home: string): string[] => ['-n', `dns+srv://${SERVICE}`, '--dns-server', dns.address, '--dns-refresh', '1s', '--home', home]
  const download = async (home: string, path: keyof typeof files, extra: readonly string[] = []): Promise<DfgetRun> =>
    await runDfgetProcess(['-u', origin.url(path), '-o', outputOf(home, path), ...fleetArgs(home), ...extra])
  const digest = (path: keyof typeof files): string => sha256Hex(files[path])

  // 1. The name answers A: the fleet's downloads meet there.
  const first = await Promise.all(hosts.map(async (home) => await download(home, '/one.bin')))
  for (const [i, run] of first.entries()) await assertComplete(run, outputOf(hosts[i] ?? '', '/one.bin'), digest('/one.bin'), `${hosts[i]} one.bin`)
  assert.equal((await clientsAt(clientA, origin.url('/one.bin'))).length, hosts.length, 'the hosts met on A')
  assert.deepEqual(await clientsAt(clientB, origin.url('/one.bin')), [])

  // 2. The answer moves to B while A keeps running: once the hosts' answer is older than
  // their refresh interval (1 s, the setting under test), new downloads go to B.
  dns.setZone(zoneOf('sn-b', snB))
  const questionsBefore = dns.questions(SERVICE, 'SRV')
  await sleep(1_100, undefined, { signal })
  const second = await Promise.all(hosts.map(async (home) => await download(home, '/two.bin')))
  for (const [i, run] of second.entries()) await assertComplete(run, outputOf(hosts[i] ?? '', '/two.bin'), digest('/two.bin'), `${hosts[i]} two.bin`)
  assert.equal((await clientsAt(clientB, origin.url('/two.bin'))).length, hosts.length, 'the hosts met on B')
  assert.deepEqual(await clientsAt(clientA, origin.url('/two.bin')), [], 'A, still up, saw none of the new downloads')
  assert.ok(dns.questions(SERVICE, 'SRV') > questionsBefore, 'the hosts asked DNS again')

  // 3. A download in progress on B; the answer moves back to A and B dies: the download
  // fails over to what the name now resolves to and completes with the pieces it held.
  const [mover] = hosts
  assert.ok(mover !== undefined)
  const running = download(mover, '/three.bin', ['--locallimit', '4M'])
  const deadline = Date.now() + 30_000
  while (!(await clientsAt(clientB, origin.url('/three.bin'))).some((c) => c.donePieces >= 3)) {
    assert.ok(Date.now() < deadline, 'the download did not get 3 pieces at B in time')
    await sleep(50, undefined, { signal })
  }
  dns.setZone(zoneOf('sn-a', snA))
  snB.child.kill('SIGKILL')
  const third = await running
  await assertComplete(third, outputOf(mover, '/three.bin'), digest('/three.bin'), 'the download in progress')
  assert.equal(parseSummary(third.stderr)?.source, 0, `nothing came from the source itself: ${third.stderr}`)
  const atA = await clientsAt(clientA, origin.url('/three.bin'))
  assert.equal(atA.length, 1, 'it registered with A, which the name resolves to now')
  assert.equal(atA[0]?.status, 'success')
})

test('dfdaemon configured with one SRV name sends the next blob to the supernode the DNS answer moved to', async (t) => {
  const signal = AbortSignal.timeout(90_000)
  const dir = (await createTmpDir('df-dns-daemon-')).path
  const registry = await startRegistry(join(dir, 'registry'))
  t.after(() => registry.close())
  const image = buildTestImage([2 * MiB, 2 * MiB], 17)
  await pushImage(registry.baseUrl, 'test/img', '1', image)
  const started = await Promise.allSettled([spawnSupernode(join(dir, 'sn-a')), spawnSupernode(join(dir, 'sn-b'))])
  for (const outcome of started) if (outcome.status === 'fulfilled') t.after(() => stopChild(outcome.value.child))
  const [snA, snB] = started.map((outcome) => { if (outcome.status === 'rejected') throw outcome.reason; return outcome.value })
  assert.ok(snA !== undefined && snB !== undefined)
  const dns = await startDnsServer(zoneOf('sn-a', snA))
  t.after(() => dns.close())
  const home = join(dir, 'host')
  t.after(() => stopPeerServer(home))
  const daemon = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', `dns+srv://${SERVICE}`, '--dns-server', dns.address, '--dns-refresh', '1s', '--home', home])
  t.after(() => daemon.close())
  const cdnRead = async (sn: StartedSupernode): Promise<number> => metricValue(await (await fetch(`${sn.apiUrl}/metrics`, { signal })).text(), 'dragonfly_supernode_cdn_download_size_bytes_total')
  const pull = async (layer: { digest: string, data: Buffer } | undefined): Promise<void> => {
    assert.ok(layer !== undefined)
    const response = await fetch(`${daemon.baseUrl}/v2/test/img/blobs/${layer.digest}`, { signal })
    assert.equal(response.status, 200)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(layer.data), `blob ${layer.digest} is the registry's`)
  }
  const [first, second] = image.layers
  await pull(first)
  assert.ok(await cdnRead(snA) >= (first?.data.length ?? 1), 'the first blob went through A')
  assert.equal(await cdnRead(snB), 0)
  dns.setZone(zoneOf('sn-b', snB))
  const readByA = await cdnRead(snA)
  // The refresh interval (1 s) is what is under test: the next blob after it goes to B.
  await sleep(1_100, undefined, { signal })
  await pull(second)
  assert.ok(await cdnRead(snB) >= (second?.data.length ?? 1), 'the second blob went through B')
  assert.equal(await cdnRead(snA), readByA, 'A, still up, read nothing more')
  assert.equal(await daemon.metric('dragonfly_dfdaemon_back_source_total'), 0, `no blob came from the registry directly: ${daemon.logs()}`)
})

test('a supernode name that does not resolve at start-up: one line naming it and exit status 2, from dfget and dfdaemon', async (t) => {
  const dns = await startDnsServer({})
  t.after(() => dns.close())
  const dir = (await createTmpDir('df-dns-bad-')).path
  const home = join(dir, 'home')
  t.after(() => stopPeerServer(home))
  const dfget = await runToExit('dfget', ['-u', 'http://127.0.0.1:9/f.bin', '-o', join(dir, 'f.bin'), '-n', 'dns://nope.fleet.test', '--dns-server', dns.address, '--home', home])
  assert.equal(dfget.exitCode, 2, dfget.stderr)
  assert.match(dfget.stderr, /^dfget: error DF_ERR_CONFIG_UNUSABLE: supernode list: dns:\/\/nope\.fleet\.test:8002: no A\/AAAA records \(ENOTFOUND from 127\.0\.0\.1:\d+\)\n$/)
  const dfdaemon = await runToExit('dfdaemon', ['--port', '0', '--home', join(dir, 'daemon'), '-n', 'dns+srv://_api._tcp.nope.fleet.test', '--dns-server', dns.address])
  assert.equal(dfdaemon.exitCode, 2, dfdaemon.stderr)
  assert.match(dfdaemon.stderr, /^dfdaemon: error DF_ERR_CONFIG_UNUSABLE: supernode list: dns\+srv:\/\/_api\._tcp\.nope\.fleet\.test: no SRV records \(ENOTFOUND from 127\.0\.0\.1:\d+\)\n$/)
  assert.equal(dfdaemon.stdout, '', 'it never said ready')
})
