/**
 * The swarm dashboard's read-only feed (`GET /api/v1/dashboard`, and the same snapshot
 * pushed as server-sent events by `GET /api/v1/dashboard/events`): every task with its
 * progress and where its bytes came from, and for one selected task every cid with its
 * piece maps. The dashboard page reads exactly this; scripts may too.
 *
 * Piece maps are bitsets in base64: bit `p % 8` (least significant first) of byte
 * `floor(p / 8)` is piece `p`; `ceil(pieceCount / 8)` bytes.
 */
import { Type, type Static } from '@sinclair/typebox'
import { ID_PATTERNS } from '../ids.js'
import { createParser } from '../schema-parser.js'

const Bytes = (description: string): ReturnType<typeof Type.Number> => Type.Number({ minimum: 0, description })

/** Where piece bytes came from, and what the origin was spared. */
export const DashboardBytesSchema = Type.Object({
  deliveredBytes: Bytes('piece bytes clients received and reported (supernode + peers + source)'),
  fromSupernodeBytes: Bytes('piece bytes clients fetched from the supernode'),
  fromPeersBytes: Bytes('piece bytes clients fetched from other peers'),
  fromSourceBytes: Bytes('piece bytes clients fetched from the origin themselves (back-source)'),
  originBytes: Bytes('bytes read from the origin: by the CDN and by back-source clients'),
  originSparedBytes: Bytes('deliveredBytes minus originBytes, at least 0: what the swarm kept off the origin'),
  peerShare: Type.Number({ minimum: 0, maximum: 1, description: 'fromPeersBytes / deliveredBytes (0 when nothing was delivered)' }),
})
export type DashboardBytes = Static<typeof DashboardBytesSchema>

export const DashboardTaskStateSchema = Type.Union([Type.Literal('pending'), Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')])
export type DashboardTaskState = Static<typeof DashboardTaskStateSchema>

/** One task in the list. */
export const DashboardTaskSchema = Type.Object({
  taskId: Type.String(),
  url: Type.String({ description: 'the task URL, credentials and query values redacted' }),
  state: DashboardTaskStateSchema,
  failure: Type.Optional(Type.String({ description: 'why the task failed' })),
  fileLengthBytes: Type.Integer({ minimum: 0 }),
  pieceSizeBytes: Type.Integer({ minimum: 1 }),
  pieceCount: Type.Integer({ minimum: 0 }),
  cachedPieces: Type.Integer({ minimum: 0, description: 'pieces in the CDN cache' }),
  createdAt: Type.String({ description: 'ISO time the task was registered (its age is now minus this)' }),
  clients: Type.Integer({ minimum: 0, description: 'cids downloading or having downloaded the task' }),
  clientsDone: Type.Integer({ minimum: 0 }),
  clientsFailed: Type.Integer({ minimum: 0 }),
  progress: Type.Number({ minimum: 0, maximum: 1, description: 'pieces received by all cids / (pieceCount × cids); 0 without cids' }),
  rateBytesPerSec: Type.Number({ minimum: 0, description: 'sum of the cids\' download rates' }),
  bytes: DashboardBytesSchema,
})
export type DashboardTask = Static<typeof DashboardTaskSchema>

/** A source a cid will not be sent to again in this task, and why. */
export const DashboardExclusionSchema = Type.Object({
  sourceId: Type.String({ description: 'a peer id, or "supernode"' }),
  reason: Type.String(),
})
export type DashboardExclusion = Static<typeof DashboardExclusionSchema>

/** One cid of the selected task (its host's peer, its pieces, its bytes). */
export const DashboardClientSchema = Type.Object({
  cid: Type.String(),
  peerId: Type.String(),
  hostName: Type.String({ description: 'the peer\'s host name; empty when the peer left' }),
  address: Type.String({ description: '"ip:port" of the peer server; empty when the peer left' }),
  isPeerLive: Type.Boolean({ description: 'false once the peer said service down' }),
  status: Type.Union([Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')]),
  problem: Type.Optional(Type.String({ description: 'why this cid failed or its peer is gone' })),
  donePieces: Type.Integer({ minimum: 0 }),
  fetchingPieces: Type.Integer({ minimum: 0 }),
  doneMap: Type.String({ description: 'base64 bitset of the pieces received' }),
  fetchingMap: Type.String({ description: 'base64 bitset of the pieces being fetched now' }),
  rateBytesPerSec: Type.Number({ minimum: 0, description: 'piece bytes received per second over the last few seconds' }),
  fromSupernodeBytes: Type.Number({ minimum: 0 }),
  fromPeersBytes: Type.Number({ minimum: 0 }),
  fromSourceBytes: Type.Number({ minimum: 0 }),
  uploadedBytes: Type.Number({ minimum: 0, description: 'piece bytes this peer uploaded to others (all tasks)' }),
  createdAt: Type.String(),
  excluded: Type.Array(DashboardExclusionSchema),
})
export type DashboardClient = Static<typeof DashboardClientSchema>

/** The selected task's details. */
export const DashboardTaskDetailSchema = Type.Object({
  taskId: Type.String(),
  cachedMap: Type.String({ description: 'base64 bitset of the pieces in the CDN cache' }),
  clients: Type.Array(DashboardClientSchema),
})
export type DashboardTaskDetail = Static<typeof DashboardTaskDetailSchema>

/** One snapshot of the swarm. */
export const DashboardSnapshotSchema = Type.Object({
  generatedAt: Type.String(),
  intervalMs: Type.Integer({ minimum: 1, description: 'the events stream sends at most one snapshot per interval' }),
  peers: Type.Integer({ minimum: 0, description: 'live peers' }),
  totals: DashboardBytesSchema,
  tasks: Type.Array(DashboardTaskSchema),
  selected: Type.Optional(DashboardTaskDetailSchema),
})
export type DashboardSnapshot = Static<typeof DashboardSnapshotSchema>

export const DashboardQuerySchema = Type.Object({
  taskId: Type.Optional(Type.String({ pattern: ID_PATTERNS.taskId, description: 'the task whose cids and piece maps to include as `selected`' })),
  token: Type.Optional(Type.String({ maxLength: 1024, description: 'the API token, for clients that cannot send Authorization (EventSource)' })),
}, { additionalProperties: false })
export type DashboardQuery = Static<typeof DashboardQuerySchema>

export const parseDashboardSnapshot = createParser(DashboardSnapshotSchema, 'dashboard')
