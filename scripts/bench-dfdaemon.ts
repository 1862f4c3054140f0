/**
 * `npm run bench -- dfdaemon`: one skopeo pull straight from a local docker-registry vs
 * the same pull through dfdaemon as a registry mirror (cold supernode CDN cache, fresh
 * --home), same run, medians of several rounds. Each round pushes a new image (3 layers,
 * 5/20/50 MiB) so neither path finds a warm swarm. Writes its section of docs/benchmarks.md.
 *
 *   npm run bench -- dfdaemon [--rounds 3]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { CloseStack } from '../src/common/lifecycle.js'
import { startRegistry } from '../test/harness/registry.js'
import { buildTestImage, pushImage } from '../test/harness/oci-image.js'
import { spawnSupernode, stopChild } from '../test/harness/processes.js'
import { runCommand, spawnDfdaemon, writeRegistriesConf } from '../test/harness/dfdaemon-process.js'
import { writeBenchmarkSection } from './lib/benchmarks-doc.js'

const MiB = 1024 * 1024

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

/** Runs the suite; returns the exit status. */
export async function runDfdaemonBench (argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({ args: [...argv], options: { rounds: { type: 'string', default: '3' } } })
  const rounds = Number(values.rounds)
  if (!(rounds >= 1)) { console.error('bench dfdaemon: bad --rounds'); return 2 }
  const work = await mkdtemp('/dev/shm/damselfly-bench-dfdaemon-')
  const cleanup = new CloseStack()
  cleanup.defer(() => rm(work, { recursive: true, force: true }))
  const directMs: number[] = []
  const proxiedMs: number[] = []
  try {
    const registry = cleanup.push(await startRegistry(join(work, 'registry')))
    for (let round = 0; round < rounds; round++) {
      const repository = `bench/img${round}`
      const image = buildTestImage([5 * MiB, 20 * MiB, 50 * MiB], 50 + round)
      await pushImage(registry.baseUrl, repository, '1', image)
      const direct = await runCommand('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${registry.host}/${repository}:1`, `dir:${join(work, `direct-${round}`)}`])
      if (direct.code !== 0) throw new Error(`direct skopeo: ${direct.output}`)
      directMs.push(direct.wallMs)
      const sn = await spawnSupernode(join(work, `sn-${round}`))
      const home = join(work, `home-${round}`)
      // dfdaemon hosts the home's peer server itself (no other one runs for this home).
      const daemon = await spawnDfdaemon(['--registry', registry.baseUrl, '-n', sn.node, '--home', home])
      try {
        const conf = await writeRegistriesConf(join(work, `registries-${round}.conf`), daemon.host)
        const proxied = await runCommand('skopeo', ['--registries-conf', conf, 'copy', '--quiet', `docker://docker.io/${repository}:1`, `dir:${join(work, `proxied-${round}`)}`])
        if (proxied.code !== 0) throw new Error(`skopeo through dfdaemon: ${proxied.output}`)
        if (await daemon.metric('dragonfly_dfdaemon_back_source_total') > 0) throw new Error(`dfdaemon fell back to the registry: ${daemon.logs()}`)
        proxiedMs.push(proxied.wallMs)
      } finally {
        await daemon.close()
        await stopChild(sn.child)
      }
      await rm(join(work, `direct-${round}`), { recursive: true, force: true })
      await rm(join(work, `proxied-${round}`), { recursive: true, force: true })
      console.log(`dfdaemon round ${round + 1}: direct ${directMs.at(-1)?.toFixed(0)} ms, through dfdaemon ${proxiedMs.at(-1)?.toFixed(0)} ms`)
    }
    const ratio = median(proxiedMs) / median(directMs)
    const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}`
    const markdown = [
      '## dfdaemon',
      '',
      `Run ${new Date().toISOString()} on ${machine}. One \`skopeo copy\` of a 3-layer image (5, 20, 50 MiB of data, gzipped) to \`dir:\` in /dev/shm, straight from a local docker-registry vs through dfdaemon as a registry mirror (cold supernode: the registry is read through it; the host's dfdaemon already running, hosting its peer server). Medians of ${rounds} rounds.`,
      '',
      '| | median time |',
      '| --- | --- |',
      `| skopeo from the registry | ${median(directMs).toFixed(0)} ms |`,
      `| skopeo through dfdaemon (swarm) | ${median(proxiedMs).toFixed(0)} ms |`,
      '',
      `**through dfdaemon / direct: ${ratio.toFixed(2)}×** (goal ≤ 1.2×). Rounds: direct ${directMs.map((x) => x.toFixed(0)).join(', ')} ms; dfdaemon ${proxiedMs.map((x) => x.toFixed(0)).join(', ')} ms.`,
      `dfdaemon streams each layer through dfget's stream mode (bytes reach skopeo as pieces arrive, nothing on disk); what remains is the cold path (registration, the supernode's CDN fetch from the registry, pieces through the swarm). Load average of the machine at the end: ${loadavg()[0]?.toFixed(1) ?? '?'}.`,
      '',
      'Command: `npm run bench -- dfdaemon [--rounds 3]`.',
      '',
    ].join('\n')
    await writeBenchmarkSection('dfdaemon', markdown)
    console.log(markdown)
    return 0
  } catch (err) {
    console.error(`bench dfdaemon: ${(err as Error).message}`)
    return 1
  } finally {
    await cleanup.close().catch(() => undefined)
  }
}
