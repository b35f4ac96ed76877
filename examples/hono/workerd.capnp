# The Hono example on workerd, Cloudflare Workers' runtime: `pnpm --dir examples/hono start:workerd`
# (src/workerd-start.ts bundles src/worker.ts into dist/worker.js, then runs `workerd serve` on this file).
#
# The example's environment variables reach the worker as text bindings read from workerd's own
# environment (`fromEnvironment`: null when unset). HOST and PORT are not bindings: they choose the
# address of the socket below (`--socket-addr http=HOST:PORT`).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "example", worker = .worker),
    # The worker's fetch() goes here. Loopback is allowed (workerd refuses it by default) so that
    # ANTHROPIC_BASE_URL can name a fake-anthropic or a proxy on this machine.
    (name = "upstream", network = (allow = ["public", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:3000", http = (), service = "example")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "dist/worker.js")],
  # From 2026-08-04 on, the date implies `nodejs_compat`, which the circuit breakers need
  # (`node:events`, for opossum and the guard): an older date must add compatibilityFlags = ["nodejs_compat"].
  compatibilityDate = "2026-11-01",
  globalOutbound = "upstream",
  bindings = [
    (name = "ANTHROPIC_API_KEY", fromEnvironment = "ANTHROPIC_API_KEY"),
    (name = "ANTHROPIC_BASE_URL", fromEnvironment = "ANTHROPIC_BASE_URL"),
    (name = "CLAUDE_MODEL", fromEnvironment = "CLAUDE_MODEL"),
    (name = "CLAUDE_GUARD_DEADLINE_MS", fromEnvironment = "CLAUDE_GUARD_DEADLINE_MS"),
    (name = "CLAUDE_GUARD_MAX_ATTEMPTS", fromEnvironment = "CLAUDE_GUARD_MAX_ATTEMPTS"),
    (name = "CLAUDE_GUARD_BREAKER_VOLUME", fromEnvironment = "CLAUDE_GUARD_BREAKER_VOLUME"),
    (name = "CLAUDE_GUARD_BREAKER_ERROR_PERCENT", fromEnvironment = "CLAUDE_GUARD_BREAKER_ERROR_PERCENT"),
    (name = "CLAUDE_GUARD_BREAKER_RESET_MS", fromEnvironment = "CLAUDE_GUARD_BREAKER_RESET_MS"),
    (name = "CLAUDE_GUARD_BREAKER_WINDOW_MS", fromEnvironment = "CLAUDE_GUARD_BREAKER_WINDOW_MS"),
    (name = "CLAUDE_GUARD_STREAM_FIRST_EVENT_MS", fromEnvironment = "CLAUDE_GUARD_STREAM_FIRST_EVENT_MS"),
    (name = "CLAUDE_GUARD_STREAM_IDLE_MS", fromEnvironment = "CLAUDE_GUARD_STREAM_IDLE_MS"),
    (name = "CLAUDE_GUARD_HEARTBEAT_MS", fromEnvironment = "CLAUDE_GUARD_HEARTBEAT_MS"),
    # Set by start:workerd when it starts the fake: where the demo page's fault buttons go.
    (name = "FAKE_ANTHROPIC_CONTROL_URL", fromEnvironment = "FAKE_ANTHROPIC_CONTROL_URL"),
  ],
);
