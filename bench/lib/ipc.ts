import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Milliseconds on a clock every process on this machine shares (wall time with sub-ms resolution). */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type RpcRequest = { rpc: number; method: string; params: unknown };
type RpcReply = { rpc: number; ok: true; result: unknown } | { rpc: number; ok: false; error: string };
type ReadyMessage = { ready: unknown };

/** A forked bench process, answering remote calls. */
export interface BenchChild<Ready> {
  readonly pid: number;
  readonly ready: Ready;
  call<T>(method: string, params?: unknown, timeoutMs?: number): Promise<T>;
  /** Asks the child to stop, then kills it (by its pid) if it has not exited within 5 s. */
  stop(): Promise<void>;
}

/**
 * Forks `script` (a TypeScript file run through tsx, or with `tsx: false` a JavaScript file run by
 * node alone) with `config` as its JSON argument and waits for its `ready` message (at most 30 s).
 */
export async function forkChild<Ready>(
  script: URL,
  config: unknown,
  options: { execArgv?: string[]; tsx?: boolean } = {},
): Promise<BenchChild<Ready>> {
  const child = fork(fileURLToPath(script), [JSON.stringify(config)], {
    // Resolved here, not at load: a bundled child (bench/lib/bundle.ts) has this module but no tsx beside it.
    execArgv: [...(options.tsx === false ? [] : ['--import', import.meta.resolve('tsx')]), ...(options.execArgv ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      for (const p of pending.values()) p.reject(new Error(`${script.pathname} exited`));
      pending.clear();
      resolve();
    }),
  );
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script.pathname}: no ready message within 30 s`)), 30_000);
    child.once('error', reject);
    void exit.then(() => reject(new Error(`${script.pathname} exited before it was ready`)));
    child.on('message', (message: RpcReply | ReadyMessage) => {
      if ('ready' in message) {
        clearTimeout(timer);
        resolve(message.ready as Ready);
        return;
      }
      const waiter = pending.get(message.rpc);
      if (!waiter) return;
      pending.delete(message.rpc);
      if (message.ok) waiter.resolve(message.result);
      else waiter.reject(new Error(message.error));
    });
  }).catch((error: unknown) => {
    child.kill();
    throw error;
  });

  return {
    pid: child.pid ?? -1,
    ready,
    call<T>(method: string, params?: unknown, timeoutMs = 120_000): Promise<T> {
      if (exited) return Promise.reject(new Error(`${script.pathname} has exited`));
      const rpc = (next += 1);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(rpc);
          reject(new Error(`${method}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(rpc, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value as T);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        child.send({ rpc, method, params } satisfies RpcRequest);
      });
    },
    async stop() {
      if (exited) return;
      child.send({ rpc: 0, method: 'stop', params: undefined } satisfies RpcRequest);
      // The grace timer is cleared once the child exits, so it does not keep the parent alive for 5 s.
      let grace: NodeJS.Timeout | undefined;
      const killed = await Promise.race([
        exit.then(() => false),
        new Promise<boolean>((resolve) => (grace = setTimeout(() => resolve(true), 5_000))),
      ]);
      clearTimeout(grace);
      if (killed && !exited) {
        child.kill('SIGKILL');
        await exit;
      }
    },
  };
}

// Each handler declares its own parameter type; `never` accepts them all.
type Handler = (params: never) => unknown;

/**
 * The child's side: answers calls with `handlers`, exits after `stop` (running `onStop` first) or
 * when the parent goes away. Sends `ready` once.
 */
export function serveParent(
  ready: unknown,
  handlers: Record<string, Handler>,
  onStop: () => Promise<void> | void,
): void {
  const send = (message: unknown) => {
    if (process.connected) process.send!(message);
  };
  const stop = async () => {
    try {
      await Promise.race([onStop(), sleep(3_000)]);
    } finally {
      process.exit(0);
    }
  };
  process.on('disconnect', () => void stop());
  process.on('message', (message: RpcRequest) => {
    if (message.method === 'stop') {
      void stop();
      return;
    }
    const handler = handlers[message.method];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown method ${message.method}`);
        return (handler as (params: unknown) => unknown)(message.params);
      })
      .then(
        (result) => send({ rpc: message.rpc, ok: true, result } satisfies RpcReply),
        (error: unknown) => send({ rpc: message.rpc, ok: false, error: String(error) } satisfies RpcReply),
      );
  });
  send({ ready } satisfies ReadyMessage);
}

/** The JSON configuration a forked child was started with. */
export function childConfig<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}
