import { z } from 'zod';

/**
 * The relay↔DMS control-channel contract (docs/protocol.md §3) as schemas. Every inbound
 * frame is parsed here before anything else looks at it; the inferred types are the only
 * frame types the rest of the relay sees.
 */

export const MAX_FRAME_BYTES = 1024 * 1024;

const id = z.string().min(1).max(128);
const isoTime = z.iso.datetime({ offset: true });

export const targetSchema = z.object({
  deviceId: z.string().min(1).max(256),
  mac: z.string().regex(/^[0-9a-fA-F]{12}$|^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/, 'must be a MAC address'),
  ip: z.union([z.ipv4(), z.ipv6()]),
  port: z.number().int().min(1).max(65535).optional(),
  vendor: z.enum(['polycom', 'openstage']),
  model: z.string().max(128).default(''),
  credentials: z.object({ user: z.string().max(256), password: z.string().max(1024) }),
});
export type Target = z.infer<typeof targetSchema>;

const paramName = z.string().min(1).max(256);

export const commandSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('dial'), args: z.object({ to: z.string().min(1).max(256), dialType: z.enum(['sip', 'tel']).default('sip'), line: z.coerce.number().int().min(1).max(64).default(1) }) }),
  z.object({ kind: z.literal('reboot'), args: z.object({}).default({}) }),
  z.object({ kind: z.literal('reset'), args: z.object({ scope: z.enum(['web', 'local', 'device', 'all', 'factory']) }) }),
  z.object({ kind: z.literal('getParams'), args: z.object({ names: z.array(paramName).min(1).max(20) }) }),
  z.object({ kind: z.literal('setParams'), args: z.object({ values: z.record(paramName, z.union([z.string(), z.number(), z.boolean()])) }) }),
  z.object({ kind: z.literal('getConfig'), args: z.object({ source: z.enum(['config', 'local', 'web', 'device', 'all']).default('all') }) }),
  z.object({ kind: z.literal('screenCapture'), args: z.object({}).default({}) }),
  z.object({ kind: z.literal('pcapStart'), args: z.object({ filter: z.string().max(1024).optional(), maxMb: z.number().int().min(1).max(10).default(10), maxMinutes: z.number().int().min(1).max(2880).default(60) }) }),
  z.object({ kind: z.literal('pcapStop'), args: z.object({}).default({}) }),
  z.object({ kind: z.literal('pcapCancel'), args: z.object({}).default({}) }),
  z.object({ kind: z.literal('adPassword'), args: z.object({ password: z.string().min(1).max(1024) }) }),
  z.object({ kind: z.literal('checkSync'), args: z.object({}).default({}) }),
  z.object({ kind: z.literal('status'), args: z.object({}).default({}) }),
]);
export type Command = z.infer<typeof commandSchema>;
export type CommandKind = Command['kind'];

const envelope = { v: z.literal(1), id, ts: isoTime };

export const inboundFrameSchema = z.discriminatedUnion('type', [
  z.object({ ...envelope, type: z.literal('task.submit'), taskId: id, name: z.string().max(512).default(''), command: commandSchema, targets: z.array(targetSchema).min(1).max(50_000), executeAt: isoTime.optional(), expiresAt: isoTime.optional() }),
  z.object({ ...envelope, type: z.literal('task.update'), taskId: id, name: z.string().max(512).optional(), targets: z.array(targetSchema).min(1).max(50_000).optional(), executeAt: isoTime.optional() }),
  z.object({ ...envelope, type: z.literal('task.delete'), taskId: id }),
  z.object({ ...envelope, type: z.literal('images.sync') }),
  z.object({ ...envelope, type: z.literal('cert.install'), pfx: z.base64().min(1), passphrase: z.string().max(1024).default('') }),
  z.object({ ...envelope, type: z.literal('ack'), ref: id }),
  z.object({ ...envelope, type: z.literal('nack'), ref: id, reason: z.string().max(4096) }),
]);
export type InboundFrame = z.infer<typeof inboundFrameSchema>;
export type InboundType = InboundFrame['type'];
export type InboundOf<T extends InboundType> = Extract<InboundFrame, { type: T }>;

// Outbound bodies are plain types shared with every part that reports to the DMS.
export type { DeviceLine, OutboundBodies, OutboundType, Outcome, TaskTotals } from '../core/outbound-frames.js';
