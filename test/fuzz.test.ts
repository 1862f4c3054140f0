/**
 * The quick pass of the fuzz (issue 16): every surface of test/fuzz/surfaces.ts gets a few
 * thousand generated inputs (DF_FUZZ_RUNS, default 2000) from a fixed seed (DF_FUZZ_SEED),
 * then must still answer its health request. The full run (≥ 100,000 inputs per surface)
 * is `npm run reliability -- fuzz` (docs/reliability.md).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runSurface } from './fuzz/fuzz-surface.js'
import { FUZZ_SURFACES } from './fuzz/surfaces.js'

const RUNS = Number(process.env.DF_FUZZ_RUNS ?? '2000')
const SEED = Number(process.env.DF_FUZZ_SEED ?? '20261207')

for (const surface of FUZZ_SURFACES) {
  test(`${surface.title}: ${RUNS} generated inputs, no crash, no undocumented answer, still healthy`, async () => {
    const report = await runSurface(surface, { runs: RUNS, seed: SEED })
    assert.deepEqual(report.examples, [], `seed ${SEED}: ${report.crashes} crashes, ${report.undocumented} undocumented answers`)
    assert.equal(report.crashes + report.undocumented, 0)
    assert.ok(report.healthy, 'the surface answers its health request afterwards')
    // The inputs reached the surface (not refused by the client) and got varied answers.
    assert.ok(report.inputs >= RUNS * 0.9, `${report.inputs} of ${RUNS} inputs reached the surface`)
    assert.ok(Object.keys(report.statuses).length >= 2, `answers: ${JSON.stringify(report.statuses)}`)
  })
}
