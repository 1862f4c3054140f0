/**
 * `npm run reliability -- fuzz [--runs N] [--seed S] [--only name,name]`: the full fuzz run
 * of issue 16. Every surface of test/fuzz/surfaces.ts gets N generated inputs (default
 * 100,000); the table (inputs, crashes, undocumented answers, 5xx by code, time, healthy
 * afterwards) is printed and written to bench/results/fuzz-<time>.json; docs/reliability.md
 * gets, between its `fuzz-table` markers, the newest result of each surface. Exits 1 when any surface crashed,
 * answered an undocumented error or failed its health check.
 */
import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileAtomic } from '../../src/common/fs/atomic-write.js'
import { runSurface, type SurfaceReport } from '../../test/fuzz/fuzz-surface.js'
import { FUZZ_SURFACES } from '../../test/fuzz/surfaces.js'

const ROOT = new URL('../..', import.meta.url).pathname
const DOC = join(ROOT, 'docs/reliability.md')
const START = '<!-- fuzz-table -->'
const END = '<!-- /fuzz-table -->'

function argValue (argv: readonly string[], name: string): string | undefined {
  const index = argv.indexOf(name)
  return index >= 0 ? argv[index + 1] : undefined
}

function formatCounts (counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort(([a], [b]) => a < b ? -1 : 1)
  return entries.length === 0 ? '—' : entries.map(([key, count]) => `${key}: ${count}`).join(', ')
}

function tableOf (reports: readonly SurfaceReport[]): string {
  return [
    '| surface | inputs | crashes | undocumented answers | documented 5xx by code | answers by status | time | healthy after |',
    '| --- | ---: | ---: | ---: | --- | --- | ---: | --- |',
    ...reports.map((r) => `| ${r.title} (\`${r.name}\`) | ${r.inputs.toLocaleString('en')} | ${r.crashes} | ${r.undocumented} | ${formatCounts(r.serverErrorsByCode)} | ${formatCounts(r.statuses)} | ${(r.durationMs / 1000).toFixed(0)} s | ${r.healthy ? 'yes' : 'NO'} |`),
  ].join('\n')
}

/** The newest report of each surface among bench/results/fuzz-*.json, in the order of FUZZ_SURFACES. */
async function latestReports (resultsDir: string): Promise<{ file: string, report: SurfaceReport }[]> {
  const files = (await readdir(resultsDir)).filter((name) => /^fuzz-.*\.json$/.test(name)).sort()
  const newest = new Map<string, { file: string, report: SurfaceReport }>()
  for (const file of files) {
    const result = JSON.parse(await readFile(join(resultsDir, file), 'utf8')) as { surfaces?: SurfaceReport[] }
    for (const report of result.surfaces ?? []) newest.set(report.name, { file, report })
  }
  return FUZZ_SURFACES.flatMap((surface) => newest.get(surface.name) ?? [])
}

/** Runs the fuzz; resolves with the exit status. */
export async function runFuzzCommand (argv: readonly string[]): Promise<number> {
  const runs = Number(argValue(argv, '--runs') ?? '100000')
  const seed = Number(argValue(argv, '--seed') ?? '20261207')
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number ≥ 1')
  if (!Number.isInteger(seed)) throw new Error('--seed must be a whole number')
  const only = argValue(argv, '--only')?.split(',')
  const surfaces = FUZZ_SURFACES.filter((surface) => only === undefined || only.includes(surface.name))
  if (surfaces.length === 0) throw new Error(`--only names no surface (known: ${FUZZ_SURFACES.map((s) => s.name).join(', ')})`)
  const reports: SurfaceReport[] = []
  for (const surface of surfaces) {
    let shown = 0
    const report = await runSurface(surface, {
      runs,
      seed,
      onProgress: (done) => {
        if (done - shown >= runs / 10 || done === runs) { shown = done; process.stderr.write(`${surface.name}: ${done}/${runs}\n`) }
      },
    })
    reports.push(report)
    process.stderr.write(`${surface.name}: ${report.inputs} inputs, ${report.crashes} crashes, ${report.undocumented} undocumented, ${(report.durationMs / 1000).toFixed(0)} s, healthy ${report.healthy ? 'yes' : 'NO'}\n`)
    for (const example of report.examples) process.stderr.write(`  ${example.detail}\n    input: ${example.input}\n`)
  }
  const table = tableOf(reports)
  process.stdout.write(`${table}\n`)
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')
  const resultsDir = join(ROOT, 'bench/results')
  await mkdir(resultsDir, { recursive: true })
  const resultPath = join(resultsDir, `fuzz-${stamp}.json`)
  await writeFileAtomic(resultPath, `${JSON.stringify({ command: `npm run reliability -- fuzz ${argv.join(' ')}`.trim(), node: process.version, runsPerSurface: runs, seed, surfaces: reports }, null, 2)}\n`)
  process.stderr.write(`wrote ${resultPath}\n`)
  // The doc shows the newest result of each surface (runs of a few surfaces each may be split over processes).
  const latest = await latestReports(resultsDir)
  const files = [...new Set(latest.map((entry) => entry.file))].map((file) => `\`bench/results/${file}\``).join(', ')
  const block = `${START}\nGenerated by \`npm run reliability -- fuzz --runs N\` (Node ${process.version}); the newest result of each surface, from ${files}.\n\n${tableOf(latest.map((entry) => entry.report))}\n${END}`
  let doc = await readFile(DOC, 'utf8')
  const from = doc.indexOf(START)
  const to = doc.indexOf(END)
  doc = from >= 0 && to > from ? `${doc.slice(0, from)}${block}${doc.slice(to + END.length)}` : `${doc.trimEnd()}\n\n${block}\n`
  await writeFileAtomic(DOC, doc)
  process.stderr.write(`wrote ${DOC}\n`)
  return reports.some((r) => r.crashes > 0 || r.undocumented > 0 || !r.healthy) ? 1 : 0
}
