/** The part of node-red-node-test-helper's API these tests use (it ships no types). */
declare module 'node-red-node-test-helper' {
  interface Helper {
    init(runtimePath: string, userSettings?: Record<string, unknown>): void;
    settings(s: Record<string, unknown>): Record<string, unknown>;
    load(nodes: unknown[], flow: Array<Record<string, unknown>>, credentials?: Record<string, unknown>): Promise<void>;
    setFlows(flow: Array<Record<string, unknown>>, type?: 'full' | 'flows' | 'nodes'): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): unknown;
    startServer(done?: (err?: Error) => void): Promise<void>;
    stopServer(done?: (err?: Error) => void): Promise<void>;
  }
  const helper: Helper;
  export default helper;
}
