import { test } from 'node:test'
import assert from 'node:assert/strict'
import { isCode } from '../../protocol/errors.js'
import { cdnStatusOf, nextTaskState, TASK_TRANSITIONS, type TaskEvent, type TaskState } from './task-state.js'
import { DFGET_TASK_TRANSITIONS } from '../dfget-task/dfget-task-manager.js'

const STATES: TaskState[] = ['pending', 'running', 'success', 'failed']
const EVENTS: TaskEvent[] = ['lengthKnown', 'cached', 'fail', 'restart']

test('every task transition in the table is allowed and every other one throws DF_ERR_INTERNAL_INVARIANT', () => {
  for (const state of STATES) {
    for (const event of EVENTS) {
      const expected = TASK_TRANSITIONS[state][event]
      if (expected === undefined) assert.throws(() => nextTaskState(state, event), (err: unknown) => isCode(err, 'DF_ERR_INTERNAL_INVARIANT'))
      else assert.equal(nextTaskState(state, event), expected)
    }
  }
  assert.equal(nextTaskState(nextTaskState('pending', 'lengthKnown'), 'cached'), 'success')
  assert.equal(nextTaskState(nextTaskState('running', 'fail'), 'restart'), 'pending')
})

test('task states map to the wire CDN status', () => {
  assert.deepEqual(STATES.map(cdnStatusOf), ['running', 'running', 'success', 'failed'])
})

test('a dfget task can always be registered again and only finishes from running or success', () => {
  for (const state of ['running', 'success', 'failed'] as const) assert.equal(DFGET_TASK_TRANSITIONS[state].register, 'running')
  assert.equal(DFGET_TASK_TRANSITIONS.failed.finish, undefined)
})
