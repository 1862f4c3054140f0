/** Asserting on a fault scenario's result (test/harness/fault-scenarios.ts). */
import assert from 'node:assert/strict'
import type { ScenarioResult } from './fault-scenarios.js'

/** Every check passed, every download completed, and no output is corrupt. */
export function assertScenario (result: ScenarioResult): void {
  const failed = result.checks.filter((check) => !check.ok)
  assert.deepEqual(failed, [], failed.map((check) => `${check.name}: ${check.detail}`).join('\n'))
  assert.equal(result.corrupt, 0, 'corrupt outputs')
  assert.equal(result.completed, result.downloads, 'downloads completed')
}
