/** Types of mqtt-request.mjs: a requester for the IDDPM sampling worker pool (see there). */
import type { IClientOptions, MqttClient } from 'mqtt';

export declare const REQUEST_TOPIC: string;

/** The sampling settings of one request (as in flow 02's query, flow 03's JSON). */
export interface PoolRequest {
  model?: string;
  count?: number;
  steps?: string | number;
  method?: 'ancestral' | 'ddim';
  seed?: number;
  class?: number;
  eta?: number;
  columns?: number;
}

export interface PoolAnswer {
  /** The PNG grid. */
  png: Buffer;
  /** The worker that served it (its IDDPM_INSTANCE). */
  instance: string | undefined;
  correlationId: string;
  /** Publications it took (1 unless retried). */
  attempts: number;
  model: string | undefined;
  count: number;
  seconds: number;
  backend: string | undefined;
}

/** Every answer as it arrives: `duplicate` for a late one to a request already settled, `unknown` if not ours. */
export interface AnswerInfo {
  correlationId: string;
  instance: string | undefined;
  status: number;
  duplicate: boolean;
  unknown: boolean;
}

export interface RequesterOptions {
  requestTopic?: string;
  responseTopic?: string;
  timeoutMs?: number;
  attempts?: number;
  busyRetryMs?: number;
  onAnswer?: (info: AnswerInfo) => void;
  /** Options for mqtt.js's connectAsync (connectSampler only; protocolVersion 5 and a clean session by default). */
  mqtt?: IClientOptions;
}

export declare class SampleError extends Error {
  status: number | undefined;
  code: string;
  instance: string | undefined;
  correlationId: string;
}

export declare function connectSampler(url: string, options?: RequesterOptions): Promise<PoolRequester>;

export declare class PoolRequester {
  constructor(client: MqttClient, options?: RequesterOptions & { ownsClient?: boolean });
  readonly client: MqttClient;
  readonly responseTopic: string;
  readonly stats: { published: number; retried: number; settled: number; duplicates: number; unknown: number };
  start(): Promise<void>;
  sample(request: PoolRequest, options?: { correlationId?: string }): Promise<PoolAnswer>;
  close(): Promise<void>;
}
