/**
 * The composition root. Only the CLI entry point (`cloud-relay start`) imports this folder
 * (tests and the demo do too, from outside src/); the dependency rules in
 * .dependency-cruiser.cjs keep every part out of it.
 */
export { Daemon, type BoundAddresses, type DaemonOptions } from './daemon.js';
