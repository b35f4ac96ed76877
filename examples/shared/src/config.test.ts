import { describe, expect, it } from 'vitest';
import { fleetCommandTimeoutFromEnv, readExampleConfig } from './config.js';

describe('CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS', () => {
  it("sets the guard's fleet.commandTimeoutMs next to CLAUDE_GUARD_FLEET_SYNC_MS", () => {
    const config = readExampleConfig({
      CLAUDE_GUARD_FLEET_SYNC_MS: '250',
      CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS: '2000',
    });
    expect(config.guard.fleet).toEqual({ syncIntervalMs: 250, commandTimeoutMs: 2000 });
  });

  it('leaves both to the defaults when unset', () => {
    expect(readExampleConfig({}).guard.fleet).toEqual({});
    expect(fleetCommandTimeoutFromEnv({})).toBeUndefined();
  });

  it.each(['0', '-5', '1.5', 'soon'])('refuses %s, naming the variable', (raw) => {
    expect(() => fleetCommandTimeoutFromEnv({ CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS: raw })).toThrow(
      /CLAUDE_GUARD_FLEET_COMMAND_TIMEOUT_MS must be a/,
    );
  });
});
