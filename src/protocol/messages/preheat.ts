/**
 * Preheat (`POST /api/v1/preheats`, `GET /api/v1/preheats/{id}`): warm the supernode's CDN
 * cache before anyone asks, with one file (`type: file`, a URL) or every layer of an image
 * (`type: image`, a manifest URL `http(s)://registry/v2/<name>/manifests/<reference>`;
 * manifest lists and OCI indexes are followed to every platform). The shape follows
 * Dragonfly 1.x's `PreheatCreateRequest` / `PreheatInfo`, with our field spelling.
 */
import { Type, type Static } from '@sinclair/typebox'
import { CONTENT_DIGEST_PATTERN } from '../content-digest.js'
import { createParser } from '../schema-parser.js'
import { HttpUrlSchema, TaskIdSchema } from './common-schemas.js'

export const PreheatTypeSchema = Type.Union([Type.Literal('file'), Type.Literal('image')], { description: 'file: one URL; image: every layer of the image a manifest URL names' })
export type PreheatType = Static<typeof PreheatTypeSchema>

export const PreheatRequestSchema = Type.Object({
  type: PreheatTypeSchema,
  url: HttpUrlSchema,
  headers: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 256 }), Type.String({ maxLength: 8192 }), { description: 'headers sent to the source (e.g. Authorization); never shown back; token names, values without CR, LF or other control characters, no connection headers (else 400 DF_ERR_ARG_INVALID naming the header)' })),
  filter: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 64, description: 'type file: query parameters left out of the task identity (as dfget -f)' })),
  identifier: Type.Optional(Type.String({ minLength: 1, maxLength: 1024, description: 'type file: the task identifier (as dfget -i)' })),
  md5: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{32}$', description: 'type file: the expected md5 (as dfget -m); part of the task identity' })),
  digests: Type.Optional(Type.Array(Type.String({ pattern: CONTENT_DIGEST_PATTERN }), { minItems: 1, maxItems: 1024, description: 'type image: warm only these blobs of the image (layers and config), in manifest order; with several supernodes each warms the blobs whose tasks it owns' })),
}, { additionalProperties: false })
export type PreheatRequest = Static<typeof PreheatRequestSchema>

export const PreheatStatusSchema = Type.Union([Type.Literal('waiting'), Type.Literal('running'), Type.Literal('success'), Type.Literal('failed')])
export type PreheatStatus = Static<typeof PreheatStatusSchema>

export const PreheatTaskSchema = Type.Object({
  taskId: TaskIdSchema,
  kind: Type.Union([Type.Literal('file'), Type.Literal('layer'), Type.Literal('config')], { description: 'file (type file); an image\'s layer or config blob (type image)' }),
  url: Type.String({ description: 'the source URL, query string hidden' }),
  digest: Type.Optional(Type.String({ description: 'image layers: the layer digest, which identifies the task' })),
  status: PreheatStatusSchema,
  fileLengthBytes: Type.Integer({ minimum: 0, description: '0 until the source told the length' }),
})
export type PreheatTask = Static<typeof PreheatTaskSchema>

export const PreheatInfoSchema = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{32}$', description: 'preheat id' }),
  type: PreheatTypeSchema,
  url: Type.String({ description: 'the requested URL, query string hidden' }),
  status: PreheatStatusSchema,
  createdAt: Type.String({ description: 'ISO 8601' }),
  finishedAt: Type.Optional(Type.String({ description: 'ISO 8601, once success or failed' })),
  tasks: Type.Array(PreheatTaskSchema, { description: 'the CDN tasks warmed: one for a file; one per layer and config blob for an image' }),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, { description: 'why it failed' })),
})
export type PreheatInfo = Static<typeof PreheatInfoSchema>

export const PreheatParamsSchema = Type.Object({ preheatId: Type.String({ pattern: '^[0-9a-f]{32}$' }) })
export type PreheatParams = Static<typeof PreheatParamsSchema>

export const PreheatListSchema = Type.Object({ preheats: Type.Array(PreheatInfoSchema) })
export type PreheatList = Static<typeof PreheatListSchema>

export const parsePreheatRequest = createParser(PreheatRequestSchema, 'body')
export const parsePreheatInfo = createParser(PreheatInfoSchema, 'preheat')
export const parsePreheatList = createParser(PreheatListSchema, 'preheats')
