/**
 * A short soak (issue 16): runSoak() of scripts/lib/soak for 40 s with the built binaries,
 * faults at a fast pace (an agent and the second supernode SIGKILLed and restarted, origin
 * flaps): every verified output matched its sha256, no process crashed, every long-lived
 * process was sampled (memory, fds, event-loop delay from its /metrics). The 30-minute run
 * is `npm run reliability -- soak --minutes 30` (docs/reliability.md, "Soak").
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { runSoak } from '../../scripts/lib/soak/soak-run.js'
import { linearSlope, quantile } from '../../scripts/lib/soak/soak-stats.js'

test('the slope and quantiles of the soak table', () => {
  assert.equal(linearSlope([{ x: 0, y: 10 }, { x: 1, y: 12 }, { x: 2, y: 14 }]), 2)
  assert.equal(linearSlope([{ x: 0, y: 5 }, { x: 1, y: 5 }]), 0)
  assert.equal(linearSlope([{ x: 1, y: 5 }]), 0)
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3)
  assert.equal(quantile([5, 1, 3, 2, 4], 0.95), 5)
  assert.ok(Number.isNaN(quantile([], 0.5)))
})

test('a 40 s soak: downloads verified by sha256, 0 corrupt, 0 crashes, every process sampled', async () => {
  const report = await runSoak({ durationMs: 40_000, warmUpMs: 5_000, sampleIntervalMs: 2_000, files: 40, faultIntervalMs: 8_000, seed: 7 })
  assert.equal(report.totals.corrupt, 0, JSON.stringify(report.failureReasons))
  assert.deepEqual(report.crashes, [], 'no process exited unless the soak killed it')
  assert.equal(report.totals.crashedRuns, 0, JSON.stringify(report.failureReasons))
  assert.ok(report.totals.ok >= 1, `downloads verified: ${JSON.stringify(report.totals)} ${JSON.stringify(report.failureReasons)}`)
  assert.ok(report.faults.agentKills + report.faults.supernodeKills + report.faults.originFlaps >= 2, JSON.stringify(report.faults))
  const roles = new Set(report.samples.map((s) => s.role))
  for (const role of ['supernode-1', 'dfdaemon', 'agent-0']) assert.ok(roles.has(role), `${role} sampled: ${[...roles].join(', ')}`)
  assert.ok(report.samples.some((s) => s.role === 'supernode-1' && s.eventLoopP99Ms !== undefined && s.rssBytes > 0 && s.openFds > 0), 'the supernode\'s event-loop delay came from its /metrics')
  assert.ok(report.samples.some((s) => s.role === 'dfdaemon' && s.eventLoopP99Ms !== undefined), 'so did dfdaemon\'s')
  assert.ok(report.samples.some((s) => s.role.startsWith('agent-') && s.eventLoopP99Ms !== undefined), 'and an agent\'s')
})
