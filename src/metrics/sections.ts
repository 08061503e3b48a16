import type { SectionName, StatusPart } from '../core/status.js';

/**
 * The sections the gauges read. A scrape builds only these: the phone summary and recent-task
 * lists query the store and belong to the status page, not to a 15-second scrape.
 */
export const METRIC_SECTIONS = [
  'managementAgent',
  'tasks',
  'devices',
  'cache',
  'images',
  'cert',
  'firmwareCache',
  'ipGuard',
  'deviceWork',
  'rollouts',
] as const satisfies readonly SectionName[];
export type MetricsDocument = StatusPart<(typeof METRIC_SECTIONS)[number]>;
