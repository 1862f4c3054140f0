// scratch: one dfget of SIZE through a warm supernode, CPU of dfget and the peer server, vs curl
import { mkdtemp, rm, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { startOrigin, createTestData } from '../test/harness/origin.js'
import { BIN, runDfgetProcess, spawnSupernode, stopChild, startPeerServer, stopPeerServer } from '../test/harness/processes.js'
import { processCpuMs } from './lib/process-cpu.js'
const size = Number(process.env.SIZE ?? 512) * 1024 * 1024
const rounds = Number(process.env.ROUNDS ?? 3)
const extra = (process.env.DFGET_ARGS ?? '').split(' ').filter(Boolean)
const work = await mkdtemp('/dev/shm/prof-')
const origin = await startOrigin({ files: { '/f.bin': { data: createTestData(size, 11) }, '/g.bin': { data: createTestData(64 << 20, 12) } } })
const sn = await spawnSupernode(join(work, 'sn'))
const url = origin.url('/f.bin')
const timeRun = async (cmd: string, args: string[]) => {
  const t = performance.now()
  const child = spawn('/usr/bin/time', ['-f', '%U %S %R %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr.on('data', (c) => { err += c })
  const code = await new Promise((r) => child.once('exit', r))
  const last = err.trim().split('\n').at(-1)!.split(' ').map(Number)
  return { code, wall: performance.now() - t, cpu: (last[0]! + last[1]!) * 1000, user: last[0]! * 1000, sys: last[1]! * 1000, faults: last[2], rssK: last[3], err }
}
try {
  const warm = await runDfgetProcess(['-u', url, '-o', join(work, 'w.bin'), '-n', sn.node, '--home', join(work, 'wh')])
  if (warm.exitCode !== 0) throw new Error(warm.stderr)
  await stopPeerServer(join(work, 'wh')); await rm(join(work, 'w.bin'))
  for (let r = 0; r < rounds; r++) {
    const c = await timeRun('curl', ['-sS', '-o', join(work, 'c.bin'), url]); await rm(join(work, 'c.bin'))
    const home = join(work, `h${r}`)
    if (process.env.PROF_AGENT) {
      spawn(process.execPath, [...(process.env.PERF ? ['--perf-basic-prof'] : ['--cpu-prof', '--cpu-prof-dir=/tmp/prof/agent']), BIN('dfget'), 'server', '--home', home], { stdio: 'ignore', detached: true }).unref()
      for (let i = 0; i < 200; i++) { try { await readFile(join(home, 'peer-server.json')); break } catch { await new Promise((r) => setTimeout(r, 25)) } }
      if (process.env.WARMUP) { await timeRun(BIN('dfget'), ['-u', origin.url('/g.bin'), '-o', join(work, 'd.bin'), '-n', sn.node, '--home', home]); await rm(join(work, 'd.bin')) }
    } else await startPeerServer(home)
    const pid = (JSON.parse(await readFile(join(home, 'peer-server.json'), 'utf8')) as { pid: number }).pid
    const statOf = async (p: number) => { const f = (await readFile(`/proc/${p}/stat`, 'utf8')).split(') ')[1]!.split(' '); return { flt: Number(f[7]), u: Number(f[11]) * 10, s: Number(f[12]) * 10 } }
    const agentStat0 = await statOf(pid)
    const snBefore = await processCpuMs(sn.child.pid!)
    const psBefore = await processCpuMs(pid)
    const perf = process.env.PERF ? spawn('perf', ['record', '-e', 'cpu-clock', '-F', '2000', '-g', '-o', '/tmp/prof/perf.data', '-p', String(pid)], { stdio: 'ignore' }) : undefined
    if (perf) await new Promise((r) => setTimeout(r, 300))
    if (process.env.VERBOSE) extra.push('--verbose')
    const d = process.env.STRACE ? await timeRun('strace', ['-f', '-tt', '-e', 'trace=execve,connect,exit_group', '-o', '/tmp/prof/strace.log', BIN('dfget'), '-u', url, '-o', join(work, 'd.bin'), '-n', sn.node, '--home', home]) : await timeRun(process.env.PROF ? process.execPath : BIN('dfget'), [...(process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof/cpu', BIN('dfget')] : []), '-u', url, '-o', join(work, 'd.bin'), '-n', sn.node, '--home', home, ...extra])
    if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.once('exit', r)) }
    const ps = await processCpuMs(pid) - psBefore
    const agentStat1 = await statOf(pid)
    console.log(`agent: user ${agentStat1.u - agentStat0.u} sys ${agentStat1.s - agentStat0.s} faults ${agentStat1.flt - agentStat0.flt}`)
    const snc = await processCpuMs(sn.child.pid!) - snBefore
    if (d.code !== 0) throw new Error(d.err)
    if (process.env.VERBOSE) { const { writeFile } = await import('node:fs/promises'); await writeFile('/tmp/prof/verbose.log', d.err) }
    console.log(`round ${r}: curl ${c.wall.toFixed(0)} ms cpu ${c.cpu.toFixed(0)} | dfget ${d.wall.toFixed(0)} ms cpu ${d.cpu.toFixed(0)} (u ${d.user} s ${d.sys}) faults ${d.faults} rss ${d.rssK}K | agent ${ps.toFixed(0)} | supernode ${snc.toFixed(0)} | ratio ${(c.wall / d.wall).toFixed(2)} host-cpu/curl ${((d.cpu + ps) / c.cpu).toFixed(2)}`)
    await stopPeerServer(home); await rm(join(work, 'd.bin'))
  }
} finally {
  await stopChild(sn.child); await origin.close(); await rm(work, { recursive: true, force: true })
}
