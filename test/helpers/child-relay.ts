import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDmsSimulator, type DmsSimulator } from '../../sim/dms/index.js';
import { spawnRelay, type RelayProcess } from './child.js';
import { tempDir, writeRelayConfig } from './relay-config.js';
import { waitFor } from './wait.js';

/**
 * A DMS simulator and the built relay as a child process on one data dir, for tests that kill
 * the real process (SIGKILL, a lost key) and start it again where it left off.
 */
export interface ChildRelay {
  readonly sim: DmsSimulator;
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  /** The relay process now (replaced by restart). */
  readonly relay: RelayProcess;
  /** Waits until a relay is connected to the DMS; returns its id. */
  connected(): Promise<string>;
  /** Kills the relay (SIGKILL unless told) and waits until it is gone, its output read to the end. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts the relay again on the same config and data dir. */
  restart(): RelayProcess;
  /** Kills the relay, closes the simulator and removes the temp dir. */
  close(): Promise<void>;
}

/** Relay settings (file format) on top of the defaults; `logLevel: 'info'` unless given. */
export async function startChildRelay(prefix: string, extra: Record<string, unknown> = {}): Promise<ChildRelay> {
  const sim = await startDmsSimulator();
  const dir = tempDir(prefix);
  const dataDir = join(dir, 'data');
  const configFile = writeRelayConfig(dir, { dmsUrl: sim.url, caPem: sim.caPem, dataDir, extra: { logLevel: 'info', ...extra } });
  let relay = spawnRelay(configFile);
  return {
    sim,
    dir,
    dataDir,
    configFile,
    get relay() {
      return relay;
    },
    connected: () => waitFor(() => sim.relays().find((r) => r.connected)?.relayId, { timeoutMs: 30_000, message: 'relay connected' }),
    async kill(signal = 'SIGKILL') {
      relay.kill(signal);
      return relay.exited;
    },
    restart() {
      relay = spawnRelay(configFile);
      return relay;
    },
    async close() {
      relay.kill('SIGKILL');
      await relay.exited;
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
