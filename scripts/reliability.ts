/**
 * `npm run reliability [-- --runs R] [--only name,name]`: runs the fault scenarios (the tests
 * of test/e2e/faults-*.test.ts, on the fixture test/harness/fault-fixture.ts) R times
 * (default 3) with the built binaries and writes the table of docs/reliability.md (the part
 * between its `reliability-table` markers): runs, downloads completed, corrupt outputs, bytes
 * re-fetched from the origin, failed checks. The fixture counts the figures of each run
 * (DF_FAULT_FIGURES); a failed check is a failed test. `--only` names test files
 * (`peers`, `supernode`, `origin`, `disk`). Exits 1 when any output was corrupt or any check
 * failed. Builds dist/ first when missing.
 * `npm run reliability -- fuzz [--runs N]` runs the fuzz instead (scripts/lib/fuzz-report.ts).
 * `npm run reliability -- soak --minutes M`: the soak (scripts/lib/soak/soak-command.ts).
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { writeFileAtomic } from '../src/common/fs/atomic-write.js'
import type { FaultFigures } from '../test/harness/fault-fixture.js'
import { runFuzzCommand } from './lib/fuzz-report.js'

const ROOT = new URL('..', import.meta.url).pathname
const DOC = join(ROOT, 'docs/reliability.md')
const START = '<!-- reliability-table -->'
const END = '<!-- /reliability-table -->'
const FAULT_FILES = ['peers', 'supernode', 'origin', 'disk']

function argValue (name: string): string | undefined {
  const index = process.argv.indexOf(name)
  return index >= 0 ? process.argv[index + 1] : undefined
}

function formatBytes (bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

interface Row { title: string, runs: number, downloads: number, completed: number, failedCleanly: number, corrupt: number, refetchedBytes: number, failedChecks: string[], skipped?: string }

/** Test names and outcomes of a TAP report: `ok N - name`, `not ok N - name` (with the first line of its error), `# SKIP`. */
function readTap (tap: string): { name: string, ok: boolean, skipped: boolean, error: string }[] {
  const results: { name: string, ok: boolean, skipped: boolean, error: string }[] = []
  const lines = tap.split('\n')
  for (const [i, line] of lines.entries()) {
    const match = /^(not ok|ok) \d+ - (.*?)( # SKIP.*)?$/.exec(line)
    if (match === null) continue
    const errorLine = lines.slice(i + 1, i + 40).find((l) => /^\s+error: /.test(l)) ?? ''
    const next = lines[lines.indexOf(errorLine) + 1] ?? ''
    const error = errorLine.replace(/^\s+error: (\|-)?\s*/, '').replace(/^'|'$/g, '') || next.trim()
    results.push({ name: match[2] ?? '', ok: match[1] === 'ok', skipped: match[3] !== undefined, error })
  }
  return results
}

async function main (): Promise<number> {
  const runs = Number(argValue('--runs') ?? '3')
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number ≥ 1')
  const only = argValue('--only')?.split(',')
  if (!existsSync(join(ROOT, 'dist'))) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
    if (build.status !== 0) return 1
  }
  const rows = new Map<string, Row>()
  const rowOf = (title: string): Row => {
    let row = rows.get(title)
    if (row === undefined) { row = { title, runs: 0, downloads: 0, completed: 0, failedCleanly: 0, corrupt: 0, refetchedBytes: 0, failedChecks: [] }; rows.set(title, row) }
    return row
  }
  const dir = await mkdtemp(join(tmpdir(), 'df-reliability-'))
  try {
    for (const file of FAULT_FILES.filter((name) => only === undefined || only.includes(name))) {
      for (let i = 0; i < runs; i++) {
        const figuresFile = join(dir, `${file}-${i}.jsonl`)
        const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-timeout=600000', join(ROOT, `test/e2e/faults-${file}.test.ts`)], { cwd: ROOT, env: { ...process.env, DF_FAULT_FIGURES: figuresFile }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
        const figures = (await readFile(figuresFile, 'utf8').catch(() => '')).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as FaultFigures)
        for (const test of readTap(result.stdout)) {
          const row = rowOf(test.name)
          if (test.skipped) { row.skipped = 'needs root (tmpfs)'; continue }
          row.runs += 1
          if (!test.ok) row.failedChecks.push(`run ${i + 1}: ${test.error.slice(0, 200)}`)
          const figure = figures.find((f) => f.scenario === test.name)
          if (figure === undefined) continue
          row.downloads += figure.runs
          row.completed += figure.completed
          row.failedCleanly += figure.failedCleanly
          row.corrupt += figure.corrupt
          row.refetchedBytes += figure.refetchedBytes
        }
      }
      for (const row of rows.values()) process.stderr.write(`${row.title}: ${row.runs} runs, ${row.completed}/${row.downloads} completed, ${row.corrupt} corrupt, ${formatBytes(row.refetchedBytes)} re-fetched, ${row.failedChecks.length} failed checks\n`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  const table = [
    `Generated by \`npm run reliability -- --runs ${runs}\` on ${new Date().toISOString().slice(0, 10)} (Node ${process.version}).`,
    '',
    '| scenario | runs | dfget runs completed (+ failed cleanly, as required) | corrupt outputs | bytes re-fetched from origin (all runs) | failed checks |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...[...rows.values()].map((row) => row.skipped !== undefined
      ? `| ${row.title} | 0 | — | — | — | skipped: ${row.skipped} |`
      : `| ${row.title} | ${row.runs} | ${row.completed} / ${row.downloads}${row.failedCleanly > 0 ? ` (+ ${row.failedCleanly} failed cleanly)` : ''} | ${row.corrupt} | ${formatBytes(row.refetchedBytes)} | ${row.failedChecks.length === 0 ? 'none' : row.failedChecks.join('; ')} |`),
  ].join('\n')
  let doc: string
  try { doc = await readFile(DOC, 'utf8') } catch { doc = `# Reliability\n\n${START}\n${END}\n` }
  const from = doc.indexOf(START)
  const to = doc.indexOf(END)
  const block = `${START}\n${table}\n${END}`
  doc = from >= 0 && to > from ? `${doc.slice(0, from)}${block}${doc.slice(to + END.length)}` : `${doc.trimEnd()}\n\n${block}\n`
  await writeFileAtomic(DOC, doc)
  process.stderr.write(`wrote ${DOC}\n`)
  return [...rows.values()].some((row) => row.corrupt > 0 || row.failedChecks.length > 0) ? 1 : 0
}

const soak = async (): Promise<number> => {
  if (!existsSync(join(ROOT, 'dist'))) {
    const build = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
    if (build.status !== 0) return 1
  }
  return await (await import('./lib/soak/soak-command.js')).runSoakCommand(process.argv.slice(3))
}
const command = process.argv[2] === 'fuzz' ? runFuzzCommand(process.argv.slice(3)) : process.argv[2] === 'soak' ? soak() : main()
command.then((status) => { process.exit(status) }, (err: unknown) => {
  process.stderr.write(`reliability: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
