/**
 * Joining the swarm, shared by the file pipeline (dfget.ts) and stream mode
 * (dfget-stream.ts): find or start this host's peer server, then register the peer and the
 * task with the supernode the task id hashes to, failing over along the list. Registration
 * failures are the caller's to handle (back-source or not); `isFinalRegistrationError` says
 * which of them no other source could mend.
 */
import { hostname } from 'node:os'
import type { Logger } from '../common/log.js'
import type { CloseStack } from '../common/lifecycle.js'
import { TOKEN_ENV } from '../common/http/auth.js'
import { redactUrl } from '../common/http/redact-url.js'
import { DfError, isCode } from '../protocol/errors.js'
import type { ClientId } from '../protocol/ids.js'
import { computeTaskId } from '../protocol/task-id.js'
import type { RegisterPeerRequest } from '../protocol/messages/register-peer.js'
import type { RegisterTaskRequest } from '../protocol/messages/register-task.js'
import type { DfgetConfig } from './config.js'
import { createSupernodeLocator, type SupernodeLocator, type SupernodeRegistration } from './supernode-locator.js'
import { PeerServerLauncher, type PeerServerHandle, type PeerServerLocator } from './uploader/peer-server-launcher.js'

/** The launcher of this home's peer server, with the flags this run gives a server it starts. */
export function createPeerServerLauncher (config: DfgetConfig, logger: Logger): PeerServerLocator {
  const serverArgs = ['--port', String(config.peerPort), '--alivetime', `${config.aliveTimeMs}ms`, '--expiretime', `${config.expireTimeMs}ms`]
  if (config.totalLimitBytesPerSec > 0) serverArgs.push('--totallimit', String(config.totalLimitBytesPerSec))
  if (config.verbose) serverArgs.push('--verbose')
  if (config.caCertPath !== undefined) serverArgs.push('--cacert', config.caCertPath)
  // The token goes through the environment: a command line is visible to every user (ps).
  return new PeerServerLauncher({ logger }, { homeDir: config.homeDir, serverArgs, ...(config.token === undefined ? {} : { env: { [TOKEN_ENV]: config.token } }) })
}

export interface SwarmRegistration {
  readonly supernodes: SupernodeLocator
  readonly registration: SupernodeRegistration
  /** What the registration sent, for registering again with the next supernode (failover). */
  readonly request: { readonly taskKey: string, readonly peerRequest: RegisterPeerRequest, readonly taskRequest: RegisterTaskRequest }
}

/**
 * Registers `peerServer` and the task of `config` (as `cid`; with a stream window when
 * given). A peer server still starting has no port yet: the peer is registered without one
 * (not a source until it registers again with it). The supernode locator is `locator`
 * (the caller's, shared by its runs) or a new one pushed on `resources`. @throws DfError
 * of the last supernode tried
 */
export async function registerWithSupernodes (
  args: { config: DfgetConfig, logger: Logger, cid: ClientId, peerServer: Pick<PeerServerHandle, 'peerId'> & { readonly port: number | undefined }, windowPieces?: number, resources: CloseStack, locator?: SupernodeLocator | undefined },
  signal: AbortSignal,
): Promise<SwarmRegistration> {
  const { config, peerServer } = args
  const taskKey = computeTaskId({ url: config.url, filter: config.filter, md5: config.md5, identifier: config.identifier, digest: config.digest })
  const peerRequest: RegisterPeerRequest = {
    peerId: peerServer.peerId,
    ...(peerServer.port === undefined ? {} : { port: peerServer.port }),
    hostName: hostname().slice(0, 255),
    ...(config.advertiseIp === undefined ? {} : { ip: config.advertiseIp }),
  }
  const taskRequest: RegisterTaskRequest = {
    peerId: peerServer.peerId,
    cid: args.cid,
    url: config.url,
    ...(args.windowPieces === undefined ? {} : { windowPieces: args.windowPieces }),
    ...(Object.keys(config.headers).length === 0 ? {} : { headers: { ...config.headers } }),
    ...(config.md5 === undefined ? {} : { md5: config.md5 }),
    ...(config.identifier === undefined ? {} : { identifier: config.identifier }),
    ...(config.filter.length === 0 ? {} : { filter: [...config.filter] }),
    ...(config.digest === undefined ? {} : { digest: config.digest }),
  }
  const supernodes = args.locator ?? args.resources.push(await createSupernodeLocator(config, args.logger))
  const registration = await supernodes.register(taskKey, peerRequest, taskRequest, { signal })
  // Which task this download joined (docs/identity.md): another id than the key when the
  // supernode led it to the task of the same content (a digest the source states).
  args.logger.info({ taskId: registration.task.taskId, ...(registration.task.taskId === taskKey ? {} : { taskKey }), supernode: registration.address.baseUrl, url: redactUrl(config.url), cdnStatus: registration.task.cdnStatus }, 'task registered')
  return { supernodes, registration, request: { taskKey, peerRequest, taskRequest } }
}

/**
 * Registration failures that the source would repeat or that the user must fix (the
 * source's own error status or redirect loop, a forbidden source, a wrong token, a
 * supernode list whose DNS name does not exist), or an abort: these end the run instead
 * of sending it to the source.
 */
export function isFinalRegistrationError (err: unknown, signal: AbortSignal): boolean {
  return signal.aborted || isCode(err, 'DF_ERR_CONFIG_UNUSABLE') || isCode(err, 'DF_ERR_SOURCE_STATUS') || isCode(err, 'DF_ERR_SOURCE_FORBIDDEN') || isCode(err, 'DF_ERR_SOURCE_REDIRECT_LOOP') || isCode(err, 'DF_ERR_SOURCE_TOO_MANY_REDIRECTS') || isCode(err, 'DF_ERR_ARG_UNAUTHORIZED')
}

/** The error of a swarm that could not deliver when back-source is forbidden (--notbs). */
export function swarmFailed (cause: unknown): DfError {
  const message = cause instanceof Error ? cause.message : String(cause)
  return new DfError('DF_ERR_TASK_SWARM_FAILED', `the swarm could not deliver the file and back-source is forbidden (--notbs): ${message}`, { cause })
}
