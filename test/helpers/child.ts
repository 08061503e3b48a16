import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'cli.js');

export interface RelayProcess {
  readonly proc: ChildProcess;
  /** stdout lines (pino JSON) and stderr lines, as they arrive. */
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves when the process has exited and its stdout/stderr are fully read. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a stdout line matching `pred` (parsed JSON when possible). */
  waitForLog(pred: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** The admin URL from the "cloud-relay started" line. */
  adminUrl(timeoutMs?: number): Promise<string>;
  kill(signal?: NodeJS.Signals): void;
}

export interface SpawnOptions {
  readonly env?: Record<string, string>;
  /** CLI arguments; default `start --config <configFile>`. */
  readonly args?: string[];
}

/** Runs the built CLI (`node dist/cli.js`) as a child; `npm run build` must have run. */
export function spawnCli(configFile: string | undefined, opts: SpawnOptions = {}): RelayProcess {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const args = opts.args ?? ['start', '--config', configFile ?? ''];
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('CLOUD_RELAY_')) env[k] = v;
  const proc = spawn(process.execPath, [CLI, ...args], { env: { ...env, ...(opts.env ?? {}) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  // stdout lines parsed once as they arrive: waitForLog polls them every few ms.
  const parsed: Record<string, unknown>[] = [];
  const collect = (stream: NodeJS.ReadableStream, into: string[], onLine?: (line: string) => void) => {
    let rest = '';
    const take = (p: string) => {
      if (p.trim() === '') return;
      into.push(p);
      onLine?.(p);
    };
    stream.on('data', (chunk: Buffer) => {
      rest += chunk.toString('utf8');
      const parts = rest.split('\n');
      rest = parts.pop() ?? '';
      for (const p of parts) take(p);
    });
    // A last line without its newline (a crash mid-write) still counts.
    stream.on('end', () => take(rest));
  };
  collect(proc.stdout, stdout, (l) => parsed.push(parseLine(l)));
  collect(proc.stderr, stderr);
  // 'close', not 'exit': 'exit' can come before the last stdout/stderr chunks are read, and
  // tests read what the process said as soon as it has ended.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ code, signal })),
  );
  const rp: RelayProcess = {
    proc,
    stdout,
    stderr,
    exited,
    // 30 s: a start of the built relay takes seconds, and far more on a loaded two-core CI.
    waitForLog: (pred, timeoutMs = 30_000) => waitFor(() => parsed.find(pred), { timeoutMs, message: 'log line from the relay process' }),
    async adminUrl(timeoutMs = 30_000) {
      const line = await rp.waitForLog((l) => l.msg === 'cloud-relay started', timeoutMs);
      const admin = line.admin as { address: string; port: number };
      return `http://${admin.address.includes(':') ? `[${admin.address}]` : admin.address}:${admin.port}`;
    },
    kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
  };
  return rp;
}

function parseLine(line: string): Record<string, unknown> {
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { msg: line };
  }
}

export function spawnRelay(configFile: string, opts: SpawnOptions = {}): RelayProcess {
  return spawnCli(configFile, opts);
}

export interface CliRun {
  readonly code: number | null;
  /** stdout exactly as printed (blank lines kept, unlike RelayProcess.stdout). */
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs one CLI command to its end (the built CLI, CLOUD_RELAY_* stripped from the environment unless given). */
export async function runCli(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliRun> {
  const p = spawnCli(undefined, { args, ...(opts.env ? { env: opts.env } : {}) });
  let stdout = '';
  let stderr = '';
  p.proc.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  p.proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  // 'close' (not 'exit'): every byte of stdout has arrived.
  const code = await new Promise<number | null>((resolve) => p.proc.once('close', (c: number | null) => resolve(c)));
  return { code, stdout, stderr };
}
