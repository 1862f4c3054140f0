/**
 * Fault scenarios of issue 5 with the real binaries (see test/harness/fault-scenarios.ts).
 */
import { test } from 'node:test'
import { SCENARIOS } from '../harness/fault-scenarios.js'
import { assertScenario } from '../harness/scenario-assert.js'

for (const name of ['supernode-failover', 'supernode-failover-change', 'supernode-dies', 'supernode-dies-change', 'supernode-restart']) {
  const scenario = SCENARIOS.find((s) => s.name === name)
  if (scenario === undefined) throw new Error(`no scenario ${name}`)
  test(`${scenario.title}: every download completes with the source's bytes`, { skip: scenario.needsRoot === true && process.getuid?.() !== 0 ? 'needs root (tmpfs mounts)' : false }, async () => {
    assertScenario(await scenario.run())
  })
}
