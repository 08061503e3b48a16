import { z } from 'zod';
import { policySchema } from '../device-work/rollouts/policy.js';
import { commandSchema } from '../devices/commands.js';

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
  // Optional: a target without credentials inherits its vendor's relay-wide account (accounts.<vendor>).
  credentials: z.object({ user: z.string().max(256), password: z.string().max(1024) }).optional(),
});
export type Target = z.infer<typeof targetSchema>;

const envelope = { v: z.literal(1), id, ts: isoTime };

export const inboundFrameSchema = z.discriminatedUnion('type', [
  z.object({
    ...envelope,
    type: z.literal('task.submit'),
    taskId: id,
    name: z.string().max(512).default(''),
    command: commandSchema,
    targets: z.array(targetSchema).min(1).max(50_000),
    executeAt: isoTime.optional(),
    expiresAt: isoTime.optional(),
  }),
  z.object({
    ...envelope,
    type: z.literal('task.update'),
    taskId: id,
    name: z.string().max(512).optional(),
    targets: z.array(targetSchema).min(1).max(50_000).optional(),
    executeAt: isoTime.optional(),
  }),
  z.object({ ...envelope, type: z.literal('task.delete'), taskId: id }),
  z.object({ ...envelope, type: z.literal('images.sync') }),
  z.object({ ...envelope, type: z.literal('cert.install'), pfx: z.base64().min(1), passphrase: z.string().max(1024).default('') }),
  z.object({
    ...envelope,
    type: z.literal('rollout.submit'),
    rolloutId: id,
    name: z.string().max(512).default(''),
    imageId: id,
    targets: z.array(targetSchema).min(1).max(50_000),
    policy: policySchema,
  }),
  z.object({ ...envelope, type: z.literal('rollout.update'), rolloutId: id, policy: policySchema.optional(), targets: z.array(targetSchema).min(1).max(50_000).optional() }),
  z.object({ ...envelope, type: z.literal('rollout.pause'), rolloutId: id }),
  z.object({ ...envelope, type: z.literal('rollout.resume'), rolloutId: id }),
  z.object({ ...envelope, type: z.literal('rollout.cancel'), rolloutId: id }),
  z.object({ ...envelope, type: z.literal('ack'), ref: id }),
  z.object({ ...envelope, type: z.literal('nack'), ref: id, reason: z.string().max(4096) }),
]);
export type InboundFrame = z.infer<typeof inboundFrameSchema>;
export type InboundType = InboundFrame['type'];
export type InboundOf<T extends InboundType> = Extract<InboundFrame, { type: T }>;

// Outbound bodies are plain types shared with every part that reports to the DMS.
export type { DeviceLine, OutboundBodies, OutboundType, Outcome, TaskTotals } from '../core/outbound-frames.js';
