import { EventEmitter } from 'node:events';
import type { DestinationStream } from 'pino';

export type LogLine = Record<string, unknown> & { level?: string; msg?: string; code?: string };

/** A pino destination that keeps every line, for assertions on what the relay logged. */
export class LogCapture implements DestinationStream {
  readonly raw: string[] = [];
  /** Parsed once as each line arrives: tests poll lines() and withCode() every few ms. */
  private readonly parsed: LogLine[] = [];
  readonly events = new EventEmitter();
  private echo = process.env.CLOUD_RELAY_TEST_ECHO_LOGS === '1';

  write(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line.trim() === '') continue;
      this.raw.push(line);
      this.parsed.push(parseLine(line));
      if (this.echo) process.stderr.write(line + '\n');
      this.events.emit('line', line);
    }
  }

  lines(): LogLine[] {
    return [...this.parsed];
  }

  find(pred: (l: LogLine) => boolean): LogLine | undefined {
    return this.parsed.find(pred);
  }

  withCode(code: string): LogLine[] {
    return this.parsed.filter((l) => l.code === code);
  }

  text(): string {
    return this.raw.join('\n');
  }
}

function parseLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { msg: line };
  }
}
