import type { Clock } from '../core/clock.js';
import type { PartWiring } from '../core/part.js';
import type { Outbox, RegistrationSource } from '../core/ports.js';
import type { StatusDocument } from '../core/status.js';
import type { RelayConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { DmsClient } from '../dms/client.js';
import type { KvStore } from '../store/kv.js';
import type { StoreSpace } from '../store/space.js';
import { ManagementAgent } from './agent.js';
import type { InboundHandlers } from './ports.js';
import type { AgentTuning } from './tuning.js';

export interface ManagementAgentWiring extends PartWiring<'managementAgent'> {
  readonly agent: ManagementAgent;
  /** What the other parts use to reach the DMS. */
  readonly outbox: Outbox;
  readonly registration: RegistrationSource;
}

/**
 * The DMS link: registration, heartbeat, control channel and outbox. `inbound` is the frame
 * handler table the root assembles from the other parts (read when a frame arrives, so it
 * may be filled after this call); `status` builds the document each heartbeat carries.
 */
export function wireManagementAgent(o: {
  config: RelayConfig;
  db: Db;
  kv: KvStore;
  log: Logger;
  clock: Clock;
  tuning?: Partial<AgentTuning> | undefined;
  inbound: InboundHandlers;
  status: () => StatusDocument;
  /** Registration, heartbeats and the control channel talk to the DMS through it. */
  dms: DmsClient;
  /** Heartbeats wait for this (what their body reports must be loaded first). */
  heartbeatAfter?: Promise<unknown>;
  /** Whether the data disk takes writes (frames are nacked while it is full). */
  space?: StoreSpace;
}): ManagementAgentWiring {
  const agent = new ManagementAgent({
    config: o.config,
    db: o.db,
    kv: o.kv,
    inbound: o.inbound,
    status: o.status,
    log: o.log,
    clock: o.clock,
    tuning: o.tuning,
    heartbeatAfter: o.heartbeatAfter,
    dms: o.dms,
    space: o.space,
  });
  return {
    agent,
    outbox: agent.outbox,
    registration: agent.registration,
    components: [agent],
    phoneRoutes: [],
    handlers: {},
    status: { managementAgent: () => agent.statusSection() },
    readiness: [agent.readinessCheck()],
    adminViews: {},
  };
}
