import type { Component } from './lifecycle.js';
import type { PhoneRoute } from './phone-route.js';
import type { ReadinessCheck } from './readiness.js';
import type { SectionName, StatusSources } from './status.js';

/**
 * What one part's wiring function gives the composition root. Every part is wired the same
 * way: a function that takes what it needs as explicit arguments and returns this; the
 * root starts the components in order, puts the phone routes in front of the provisioning
 * pass-through, serves the admin views as JSON, merges the frame handlers into the control channel's table, adds the
 * readiness checks and builds the status document from the section getters.
 *
 * `Sections` names the status sections the part owns; `Handlers` the control-channel frame
 * types it handles (typed against the frame schema where the root assembles the table).
 */
export interface PartWiring<Sections extends SectionName = never, Handlers extends object = Record<never, never>> {
  readonly components: readonly Component[];
  readonly phoneRoutes: readonly PhoneRoute[];
  readonly handlers: Handlers;
  readonly status: Pick<StatusSources, Sections>;
  readonly readiness: readonly ReadinessCheck[];
  /** Read-only JSON documents on the admin port, by path (e.g. `/images`). */
  readonly adminViews: Readonly<Record<string, () => unknown>>;
}
