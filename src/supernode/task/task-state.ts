/**
 * The lifecycle of a task at the supernode, as a transition table (STYLE.md B5):
 * pending (registered; the CDN is probing the source) → running (length known; pieces are
 * being cached) → success (every piece cached) | failed (the source or the cache failed;
 * pulls answer DF_ERR_TASK_FAILED). A new registration of a failed task restarts it.
 */
import { DfError } from '../../protocol/errors.js'
import type { CdnStatus } from '../../protocol/messages/register-task.js'

export type TaskState = 'pending' | 'running' | 'success' | 'failed'
export type TaskEvent = 'lengthKnown' | 'cached' | 'fail' | 'restart'

/** state × event → next state; a missing entry is an illegal transition. */
export const TASK_TRANSITIONS: Readonly<Record<TaskState, Partial<Record<TaskEvent, TaskState>>>> = {
  pending: { lengthKnown: 'running', fail: 'failed' },
  running: { cached: 'success', fail: 'failed' },
  success: {},
  failed: { restart: 'pending' },
}

/** The state after `event`. @throws DF_ERR_INTERNAL_INVARIANT for an illegal transition */
export function nextTaskState (state: TaskState, event: TaskEvent): TaskState {
  const next = TASK_TRANSITIONS[state][event]
  if (next === undefined) throw new DfError('DF_ERR_INTERNAL_INVARIANT', `task: ${event} is illegal in ${state}`)
  return next
}

/** How the wire names a state's CDN status. */
export function cdnStatusOf (state: TaskState): CdnStatus {
  return state === 'success' ? 'success' : state === 'failed' ? 'failed' : 'running'
}
