/**
 * A mosquitto broker of the test's own (an MQTT 5 broker with shared subscriptions, Debian's `mosquitto`): its
 * own process on a free port of 127.0.0.1 with a temporary config, no persistence; the system service (if any)
 * is neither needed nor touched. Its log tells which subscriptions clients made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './runtime';

export interface Mosquitto {
  url: string;
  port: number;
  /** Everything mosquitto logged so far. */
  log(): string;
  /** Resolves once `count` subscriptions to exactly `topic` were made (from the broker's log). */
  subscribed(topic: string, count: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** env MOSQUITTO, else /usr/sbin/mosquitto (Debian), else mosquitto on the PATH. */
export function mosquittoBinary(): string {
  const candidates = [process.env.MOSQUITTO, '/usr/sbin/mosquitto', ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'mosquitto'))];
  const found = candidates.find((c): c is string => !!c && existsSync(c));
  if (!found) throw new Error('mosquitto (an MQTT 5 broker) is not installed: `apt-get install mosquitto`, or set MOSQUITTO to its path');
  return found;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => socket.end(() => resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

export async function startMosquitto(): Promise<Mosquitto> {
  const binary = mosquittoBinary();
  const dir = mkdtempSync(join(tmpdir(), 'iddpm-mosquitto-'));
  const port = await freePort();
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(config, [
    `listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'log_dest stderr',
    ...['error', 'warning', 'notice', 'information', 'subscribe', 'unsubscribe'].map((t) => `log_type ${t}`), '',
  ].join('\n'));
  const child: ChildProcess = spawn(binary, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited: string | null = null;
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  child.on('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `code ${code}`));
  for (const until = Date.now() + 10_000; !(await canConnect(port)); await new Promise((r) => setTimeout(r, 100))) {
    if (exited || Date.now() > until) {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`mosquitto did not start on port ${port} (${exited ?? 'no answer within 10 s'}):\n${output}`);
    }
  }
  /** Log lines of a subscription: "<time>: <client id> <qos> <topic>". */
  const subscriptionsTo = (topic: string): number =>
    output.split('\n').filter((line) => line.endsWith(` ${topic}`) && /^\d+: \S+ [012] /.test(line)).length;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    log: () => output,
    async subscribed(topic, count, timeoutMs = 60_000) {
      for (const until = Date.now() + timeoutMs; subscriptionsTo(topic) < count; await new Promise((r) => setTimeout(r, 100))) {
        if (Date.now() > until) throw new Error(`${subscriptionsTo(topic)} of ${count} subscriptions to ${topic} within ${timeoutMs / 1000} s:\n${output}`);
      }
    },
    stop: () => new Promise<void>((resolve) => {
      const done = (): void => {
        rmSync(dir, { recursive: true, force: true });
        resolve();
      };
      if (exited) return done();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        done();
      });
      child.kill('SIGTERM');
    }),
  };
}
