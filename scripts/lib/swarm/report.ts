/**
 * The swarm lab's report: the JSON record of a run, its markdown (the docs/benchmarks.md
 * section and the console table), and its SVG chart — per-peer completion CDFs for one N,
 * completion time of the last peer against N for a sweep. Every time is also given as a
 * ratio to the Kumar–Ross bound of the same setting.
 */
import { parseRateBitsPerSec, type Bound } from './bound.js'
import { cdfPoints, renderLineChart, type ChartSeries } from './chart.js'
import type { SystemName, SystemResult } from './context.js'

/** One N of a run. */
export interface SwarmRunResult {
  readonly hosts: number
  readonly downloaders: number
  readonly fileSizeBytes: number
  readonly bound: Bound
  readonly systems: readonly SystemResult[]
  /** Set when the run of this N failed as a whole. */
  readonly error?: string
}

/** One invocation of `npm run bench -- swarm`. */
export interface SwarmBenchResult {
  readonly date: string
  readonly machine: string
  readonly command: string
  readonly upRate: string
  readonly downRate: string
  readonly shaper: string
  /** Share of the CPU busy with other work in the 2 s before the run. */
  readonly idleCpuBusyFraction: number
  readonly runs: readonly SwarmRunResult[]
}

const LABELS: Record<SystemName | 'bittorrent+seed', string> = {
  damselfly: 'Damselfly (cold supernode)',
  bittorrent: 'BitTorrent (aria2c, seeded)',
  'bittorrent+seed': 'BitTorrent incl. seed\'s fetch',
  http: 'HTTP from origin (curl)',
}
const COLORS: Record<SystemName | 'bittorrent+seed' | 'bound', string> = {
  damselfly: '#1f77b4', bittorrent: '#ff7f0e', 'bittorrent+seed': '#d4a017', http: '#d62728', bound: '#2ca02c',
}

/** Completion statistics of one system; `lastMs` is null when some downloader failed. */
export interface CompletionStats {
  readonly done: number
  readonly total: number
  readonly firstMs: number | null
  readonly medianMs: number | null
  readonly lastMs: number | null
}

export function completionStats (result: SystemResult, offsetMs = 0): CompletionStats {
  const times = result.peers.map((p) => p.completionMs).filter((t): t is number => t !== null).map((t) => t + offsetMs).sort((a, b) => a - b)
  const total = result.peers.length
  const mid = Math.floor(times.length / 2)
  const medianMs = times.length === 0 ? null : times.length % 2 === 1 ? (times[mid] ?? null) : ((times[mid - 1] ?? 0) + (times[mid] ?? 0)) / 2
  return { done: times.length, total, firstMs: times[0] ?? null, medianMs, lastMs: times.length === total && total > 0 ? (times.at(-1) ?? null) : null }
}

/** "512 B", "8.0 MiB", "1.25 GiB". */
export function formatBytes (bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (Math.abs(value) >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit] ?? ''}`
}

const seconds = (ms: number | null): string => (ms === null ? '—' : `${(ms / 1000).toFixed(2)} s`)
const ratio = (ms: number | null, boundMs: number): string => (ms === null ? '—' : `${(ms / boundMs).toFixed(2)}×`)

/** The rows of one N: each system, BitTorrent also with its seed's fetch, and the bound. */
function runTable (run: SwarmRunResult): string[] {
  const F = run.fileSizeBytes
  const lines = [
    '| system | first done | median | last done | last / bound | origin read | served by supernode (seed) | served by peers | CPU busy | CPU-s per GiB delivered: supernode (seed) + hosts |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ]
  const deliveredGiB = (F * run.downloaders) / 1024 ** 3
  const cpuPerGiB = (result: SwarmRunResult['systems'][number]): string => {
    const { supernode, hosts } = result.cpuMsByRole ?? { supernode: Number.NaN, hosts: Number.NaN }
    if (!Number.isFinite(hosts)) return '—'
    const perGiB = (ms: number): string => (ms / 1000 / deliveredGiB).toFixed(2)
    return `${perGiB(supernode)} + ${perGiB(hosts)} = **${perGiB(supernode + hosts)}**`
  }
  const served = (bytes: number, total: number): string => (total > 0 ? `${formatBytes(bytes)} (${((bytes / total) * 100).toFixed(0)} %)` : formatBytes(bytes))
  for (const result of run.systems) {
    const stats = completionStats(result)
    const failed = stats.done < stats.total ? ` **(${stats.total - stats.done} of ${stats.total} failed)**` : ''
    const total = result.supernodeServedBytes + result.peersServedBytes
    const label = result.variant === undefined ? LABELS[result.system] : `${LABELS[result.system]}, ${result.variant}`
    lines.push(`| ${label}${failed} | ${seconds(stats.firstMs)} | ${seconds(stats.medianMs)} | ${seconds(stats.lastMs)} | ${ratio(stats.lastMs, run.bound.boundMs)} | ${(result.originReadBytes / F).toFixed(2)}× | ${served(result.supernodeServedBytes, total)} | ${served(result.peersServedBytes, total)} | ${Number.isFinite(result.cpuBusyFraction) ? `${(result.cpuBusyFraction * 100).toFixed(0)} %` : '—'} | ${cpuPerGiB(result)} |`)
    if (result.system === 'bittorrent' && result.seedFetchMs !== undefined) {
      const withSeed = completionStats(result, result.seedFetchMs)
      lines.push(`| ${LABELS['bittorrent+seed']} (${seconds(result.seedFetchMs)}) | ${seconds(withSeed.firstMs)} | ${seconds(withSeed.medianMs)} | ${seconds(withSeed.lastMs)} | ${ratio(withSeed.lastMs, run.bound.boundMs)} | | | | | |`)
    }
  }
  lines.push(`| Kumar–Ross bound | | | ${seconds(run.bound.boundMs)} | 1.00× | 1.00× | | | | |`)
  return lines
}

/** Damselfly's targets (reported, not asserted): ≤ 1.25× the bound, faster than aria2c, origin read 1.0×. */
function targetLine (run: SwarmRunResult): string | undefined {
  const damselfly = run.systems.find((s) => s.system === 'damselfly')
  if (damselfly === undefined) return undefined
  const d = completionStats(damselfly).lastMs
  const parts = [`last / bound ${ratio(d, run.bound.boundMs)} (target ≤ 1.25×)`]
  const bt = run.systems.find((s) => s.system === 'bittorrent')
  const b = bt === undefined ? null : completionStats(bt).lastMs
  if (d !== null && b !== null) parts.push(`aria2c / Damselfly ${(b / d).toFixed(2)}× (target > 1; with the seed's fetch ${((b + (bt?.seedFetchMs ?? 0)) / d).toFixed(2)}×)`)
  parts.push(`origin read ${(damselfly.originReadBytes / run.fileSizeBytes).toFixed(2)}× (target 1.0×)`)
  return `Damselfly: ${parts.join('; ')}.`
}

/**
 * How busy the bottleneck uplink was until the last downloader finished: the supernode's (or
 * seed's) for the swarms, the origin's for plain HTTP. Wire bytes ÷ (rate × time); 100 %
 * would mean the link never idled.
 */
function uplinkLine (run: SwarmRunResult, rateBitsPerSec: number): string | undefined {
  const parts: string[] = []
  for (const result of run.systems) {
    const lastMs = completionStats(result).lastMs
    const final = result.uploadTimeline.at(-1)
    if (lastMs === null || final === undefined || !(rateBitsPerSec > 0)) continue
    const host = result.system === 'http' ? 1 : 2
    const use = (final.uploadedBytes[host] ?? 0) * 8 / (rateBitsPerSec * lastMs / 1000)
    // The first sample past 1 MiB: control traffic (registrations, announces) stays below it.
    const firstData = result.uploadTimeline.find((sample) => (sample.uploadedBytes[host] ?? 0) > 1024 * 1024)
    const role = result.system === 'http' ? 'origin' : result.system === 'bittorrent' ? 'seed' : 'supernode'
    const originFirst = result.system === 'damselfly' ? result.uploadTimeline.find((sample) => (sample.uploadedBytes[1] ?? 0) > 1024 * 1024) : undefined
    parts.push(`${LABELS[result.system]}: ${role} ${(use * 100).toFixed(0)} %${firstData === undefined ? '' : `, sending data from ${(firstData.atMs / 1000).toFixed(1)} s`}${originFirst === undefined ? '' : ` (the origin from ${(originFirst.atMs / 1000).toFixed(1)} s)`}`)
  }
  return parts.length === 0 ? undefined : `Bottleneck uplink busy until the last downloader finished (its wire bytes ÷ rate × time): ${parts.join('; ')}.`
}

export function renderMarkdown (bench: SwarmBenchResult, chartPath: string | undefined): string {
  const lines = [
    '## Swarm lab (network namespaces, shaped links)',
    '',
    `Run ${bench.date} on ${bench.machine}. Command: \`${bench.command}\`. CPU busy with other work just before the run: ${Number.isFinite(bench.idleCpuBusyFraction) ? `${(bench.idleCpuBusyFraction * 100).toFixed(0)} %` : 'not measured'}.`,
    '',
    `Every host's upload limited to ${bench.upRate}${bench.downRate === 'none' ? '' : `, download to ${bench.downRate}`} (tc ${bench.shaper}); host 1 is the origin, host 2 the supernode (and the BitTorrent tracker and seed), the others download. Times run from the common start of all downloaders to each one's completion; every output is checked against the origin's sha256. How the lab works: [benchmarks-lab.md](benchmarks-lab.md).`,
    '',
  ]
  for (const run of bench.runs) {
    const b = run.bound
    lines.push(
      `### ${run.downloaders} downloaders (${run.hosts} hosts), ${formatBytes(run.fileSizeBytes)}`,
      '',
      `Kumar–Ross bound ${seconds(b.boundMs)} = max(F/u_s ${seconds(b.seedUploadMs)}, F/d_min ${b.slowestDownloadMs > 0 ? seconds(b.slowestDownloadMs) : '— (downloads unshaped)'}, N·F/(u_s+Σu_i) ${seconds(b.aggregateUploadMs)}).`,
      '',
    )
    if (run.error !== undefined) lines.push(`**This N failed:** ${run.error}`, '')
    if (run.systems.length > 0) lines.push(...runTable(run), '')
    const uplinks = uplinkLine(run, parseRateBitsPerSec(bench.upRate) ?? Number.NaN)
    if (uplinks !== undefined) lines.push(uplinks, '')
    const target = targetLine(run)
    if (target !== undefined) lines.push(target, '')
    for (const result of run.systems) {
      for (const peer of result.peers) if (peer.error !== undefined) lines.push(`- ${LABELS[result.system]}, host ${peer.ip}: ${peer.error.replace(/\s+/g, ' ').slice(0, 300)}`)
    }
    if (run.systems.some((s) => s.peers.some((p) => p.error !== undefined))) lines.push('')
  }
  if (bench.runs.length > 1) lines.push(...sweepTable(bench), '')
  lines.push('Served bytes: Damselfly from the supernode\'s `dragonfly_supernode_pieces_downloaded_size_bytes_total` and the dfgets\' summaries; BitTorrent estimated from the hosts\' wire bytes; origin read from the origin\'s own byte counter; CPU busy is the share of both cores\' time in use while the downloads ran (all hosts share this machine\'s 2 cores).', '')
  if (chartPath !== undefined) lines.push(`![swarm lab chart](${chartPath})`, '')
  return lines.join('\n')
}

function sweepTable (bench: SwarmBenchResult): string[] {
  const names = [...new Set(bench.runs.flatMap((r) => r.systems.map((s) => s.system)))]
  const header = ['N (downloaders)', 'bound', ...names.map((n) => `${LABELS[n]} last`), ...(names.includes('bittorrent') ? [LABELS['bittorrent+seed']] : [])]
  const lines = ['### Sweep: time of the last downloader', '', `| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`]
  for (const run of bench.runs) {
    const cells = [String(run.downloaders), seconds(run.bound.boundMs)]
    for (const name of names) {
      const result = run.systems.find((s) => s.system === name)
      const last = result === undefined ? null : completionStats(result).lastMs
      cells.push(last === null ? '—' : `${seconds(last)} (${ratio(last, run.bound.boundMs)})`)
    }
    if (names.includes('bittorrent')) {
      const bt = run.systems.find((s) => s.system === 'bittorrent')
      const last = bt === undefined ? null : completionStats(bt, bt.seedFetchMs ?? 0).lastMs
      cells.push(last === null ? '—' : `${seconds(last)} (${ratio(last, run.bound.boundMs)})`)
    }
    lines.push(`| ${cells.join(' | ')} |`)
  }
  return lines
}

/** The SVG: a completion CDF per system for one N, or last-completion against N for a sweep. */
export function renderChart (bench: SwarmBenchResult): string {
  const runs = bench.runs.filter((r) => r.systems.length > 0)
  const first = runs[0]
  if (runs.length === 1 && first !== undefined) {
    // Plain HTTP takes several times longer than the swarms; a full-length axis would squeeze
    // the swarms into a corner, so the axis ends at 1.5× the slowest swarm system and a
    // series that goes on past it is cut at the edge and says where it ends in its name.
    const lines: { name: string, color: string, dashed: boolean, times: number[], total: number }[] = []
    for (const result of first.systems) {
      const times = result.peers.map((p) => p.completionMs).filter((t): t is number => t !== null).map((t) => t / 1000)
      lines.push({ name: LABELS[result.system], color: COLORS[result.system], dashed: false, times, total: result.peers.length })
      if (result.system === 'bittorrent' && result.seedFetchMs !== undefined) {
        const offset = result.seedFetchMs / 1000
        lines.push({ name: LABELS['bittorrent+seed'], color: COLORS['bittorrent+seed'], dashed: true, times: times.map((t) => t + offset), total: result.peers.length })
      }
    }
    const swarmEnds = first.systems.filter((s) => s.system !== 'http').flatMap((s) => s.peers.map((p) => (p.completionMs ?? 0) / 1000 + (s.seedFetchMs ?? 0) / 1000))
    const xLimit = swarmEnds.length === 0 ? Number.POSITIVE_INFINITY : Math.max(...swarmEnds, first.bound.boundMs / 1000) * 1.5
    const series: ChartSeries[] = lines.map((line) => {
      const points = cdfPoints(line.times, line.total)
      const last = line.times.length === 0 ? 0 : Math.max(...line.times)
      if (last <= xLimit) return { name: line.name, color: line.color, dashed: line.dashed, points }
      const inside = points.filter((p) => p[0] <= xLimit)
      return { name: `${line.name} (→ ${last.toFixed(0)}\u00a0s)`, color: line.color, dashed: line.dashed, points: [...inside, [xLimit, inside.at(-1)?.[1] ?? 0] as const] }
    })
    return renderLineChart({
      title: `Downloaders done over time: ${first.downloaders} downloaders, ${formatBytes(first.fileSizeBytes)}, ${bench.upRate} uploads`,
      xLabel: 'seconds since all downloaders started',
      yLabel: 'fraction of downloaders done',
      yMax: 1,
      ...(Number.isFinite(xLimit) && lines.some((l) => l.times.some((t) => t > xLimit)) ? { xMax: xLimit } : {}),
      yFormat: (y) => `${Math.round(y * 100)} %`,
      series,
      verticalLines: [{ x: first.bound.boundMs / 1000, label: `bound ${(first.bound.boundMs / 1000).toFixed(1)} s`, color: COLORS.bound }],
    })
  }
  const names = [...new Set(runs.flatMap((r) => r.systems.map((s) => s.system)))]
  const series: ChartSeries[] = names.map((name) => ({
    name: LABELS[name],
    color: COLORS[name],
    markers: true,
    points: runs.flatMap((run) => {
      const result = run.systems.find((s) => s.system === name)
      const last = result === undefined ? null : completionStats(result).lastMs
      return last === null ? [] : [[run.downloaders, last / 1000] as const]
    }),
  }))
  if (names.includes('bittorrent')) {
    series.push({
      name: LABELS['bittorrent+seed'],
      color: COLORS['bittorrent+seed'],
      dashed: true,
      markers: true,
      points: runs.flatMap((run) => {
        const bt = run.systems.find((s) => s.system === 'bittorrent')
        const last = bt === undefined ? null : completionStats(bt, bt.seedFetchMs ?? 0).lastMs
        return last === null ? [] : [[run.downloaders, last / 1000] as const]
      }),
    })
  }
  series.push({ name: 'Kumar–Ross bound', color: COLORS.bound, dashed: true, markers: true, points: runs.map((run) => [run.downloaders, run.bound.boundMs / 1000] as const) })
  // As in the CDF: plain HTTP grows with N and would flatten every other line; when it is
  // far above them it is left off the plot and its times are given in the legend.
  const httpIndex = series.findIndex((s) => s.name === LABELS.http)
  const http = series[httpIndex]
  const others = series.filter((s) => s !== http).flatMap((s) => s.points.map((p) => p[1]))
  if (http !== undefined && others.length > 0 && Math.max(...http.points.map((p) => p[1])) > 3 * Math.max(...others)) {
    series[httpIndex] = { ...http, name: `${http.name}: ${http.points.map((p) => `${p[1].toFixed(0)}\u00a0s`).join(', ')} (off the chart)`, points: [] }
  }
  return renderLineChart({
    title: `Time until the last downloader is done, ${formatBytes(first?.fileSizeBytes ?? 0)}, ${bench.upRate} uploads`,
    xLabel: 'downloaders (N)',
    yLabel: 'seconds',
    xTicks: runs.map((r) => r.downloaders),
    series,
  })
}
