export { DmsSimulator, startDmsSimulator, type DmsSimulatorOptions, type RelayView, type SimEvents, type TaskSpec, type SimClock, type SeenRequest } from './simulator.js';
export type { DmsFaults, CannedResponse } from './faults.js';
export type { DmsRoute } from './types.js';
export type { ReceivedFrame } from './relays.js';
export { PIN_OVERLAP_MS } from './tenants.js';
