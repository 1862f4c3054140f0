/**
 * The lookups both halves of scheduling start from (v1 Scheduler, v2 TaskSync): a task that
 * can be scheduled — known, not failed, with progress — and one of its cids.
 */
import { DfError } from '../../protocol/errors.js'
import type { ClientId, TaskId } from '../../protocol/ids.js'
import type { ProgressManager } from '../progress/progress-manager.js'
import type { ClientProgressView, TaskProgressView } from '../progress/task-progress.js'
import type { TaskManager, TaskView } from '../task/task-manager.js'

/** The task and its progress. @throws DF_ERR_TASK_NOT_FOUND, the task's failure (DF_ERR_TASK_FAILED) */
export function mustGetSchedulableTask (tasks: Pick<TaskManager, 'getTask'>, progressManager: Pick<ProgressManager, 'getTask'>, taskId: TaskId): { task: TaskView, progress: TaskProgressView } {
  const task = tasks.getTask(taskId)
  if (task === undefined) throw new DfError('DF_ERR_TASK_NOT_FOUND', `no task ${taskId}`, { details: { taskId } })
  if (task.state === 'failed') throw task.failure ?? new DfError('DF_ERR_TASK_FAILED', `task ${taskId} failed`)
  const progress = progressManager.getTask(taskId)
  if (progress === undefined) throw new DfError('DF_ERR_TASK_NOT_FOUND', `task ${taskId} has no progress yet`, { details: { taskId } })
  return { task, progress }
}

/** One cid of the task. @throws DF_ERR_TASK_CLIENT_NOT_FOUND */
export function mustGetClient (progress: TaskProgressView, taskId: TaskId, cid: ClientId): ClientProgressView {
  const client = progress.getClient(cid)
  if (client === undefined) throw new DfError('DF_ERR_TASK_CLIENT_NOT_FOUND', `no cid ${cid} in task ${taskId}`, { details: { taskId, cid } })
  return client
}
