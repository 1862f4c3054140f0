/**
 * `npm run demo`: a local swarm on one machine. Starts an origin serving a generated file,
 * a supernode, and several dfget runs with separate --home directories (separate "hosts"),
 * all at once; then prints, per peer, the time taken and where its bytes came from, checks
 * every output against the origin's digest, and shows how often the origin was read.
 * Everything started here is stopped at the end, also on failure or Ctrl-C.
 *
 *   npm run demo -- [--peers 6] [--size 64MiB]
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { startOrigin, createTestData } from '../test/harness/origin.js'
import { formatMiB, metricValue, parseSummary, runDfgetProcess, spawnSupernode, stopChild, stopPeerServer, type StartedSupernode } from '../test/harness/processes.js'
import { parseSize } from '../src/common/rate-limiter.js'

const { values } = parseArgs({ options: { peers: { type: 'string', default: '6' }, size: { type: 'string', default: '64MiB' } } })
const peers = Number(values.peers)
const sizeBytes = parseSize(values.size)
if (!Number.isInteger(peers) || peers < 1 || peers > 32 || sizeBytes === undefined || sizeBytes < 1) {
  console.error('demo: --peers must be 1..32 and --size a size like 64MiB')
  process.exit(2)
}

const work = await mkdtemp(join(tmpdir(), 'damselfly-demo-'))
const homes = Array.from({ length: peers }, (_, i) => join(work, `host-${i + 1}`))
let supernode: StartedSupernode | undefined
const origin = await startOrigin({ files: { '/model.bin': { data: createTestData(sizeBytes, 7) } } })
const cleanup = async (): Promise<void> => {
  await Promise.all(homes.map(stopPeerServer))
  if (supernode !== undefined) await stopChild(supernode.child)
  await origin.close()
  await rm(work, { recursive: true, force: true })
}
process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })

try {
  const expected = createHash('sha256').update(createTestData(sizeBytes, 7)).digest('hex')
  supernode = await spawnSupernode(join(work, 'supernode'))
  console.log(`origin     ${origin.url('/model.bin')} (${formatMiB(sizeBytes)}, sha256 ${expected.slice(0, 16)}…)`)
  console.log(`supernode  ${supernode.apiUrl} (metrics at ${supernode.apiUrl}/metrics, API docs at ${supernode.apiUrl}/docs)`)
  console.log(`starting ${peers} dfget runs at once, one --home each …\n`)
  const node = supernode.node
  const runs = await Promise.all(homes.map(async (home, i) => await runDfgetProcess(['-u', origin.url('/model.bin'), '-o', join(work, `out-${i + 1}.bin`), '-n', node, '--home', home])))

  console.log('peer     exit   time     from origin   from supernode   from peers   output')
  let allGood = true
  for (const [i, run] of runs.entries()) {
    const summary = parseSummary(run.stderr)
    let verdict = 'missing'
    try {
      const digest = createHash('sha256').update(await readFile(join(work, `out-${i + 1}.bin`))).digest('hex')
      verdict = digest === expected ? 'sha256 ok' : 'CORRUPT'
    } catch { /* no output */ }
    if (run.exitCode !== 0 || verdict !== 'sha256 ok') allGood = false
    console.log(`host-${String(i + 1).padEnd(3)} ${String(run.exitCode).padEnd(6)} ${(run.wallMs / 1000).toFixed(2).padStart(5)} s  ${(summary === undefined ? '?' : formatMiB(summary.source)).padStart(11)}   ${(summary === undefined ? '?' : formatMiB(summary.supernode)).padStart(14)}   ${(summary === undefined ? '?' : formatMiB(summary.peers)).padStart(10)}   ${verdict}`)
    if (run.exitCode !== 0) console.log(`         ${run.stderr.trim().split('\n').at(-1) ?? ''}`)
  }
  const metrics = await (await fetch(`${supernode.apiUrl}/metrics`)).text()
  const fromSupernode = metricValue(metrics, 'dragonfly_supernode_pieces_downloaded_size_bytes_total')
  const total = sizeBytes * peers
  console.log(`\norigin read ${origin.readRatio('/model.bin').toFixed(2)}× the file (${origin.stats('/model.bin').requests} requests); ` +
    `supernode served ${formatMiB(fromSupernode)} of ${formatMiB(total)} delivered (${((fromSupernode / total) * 100).toFixed(0)} %), peers the rest.`)
  console.log(allGood ? 'every output is byte-identical to the origin.' : 'SOME DOWNLOADS FAILED.')
  process.exitCode = allGood ? 0 : 1
} catch (err) {
  console.error(`demo: ${(err as Error).message}`)
  process.exitCode = 1
} finally {
  await cleanup()
}
