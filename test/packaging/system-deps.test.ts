import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// scripts/ensure-system-deps.sh, run by `pnpm test` and `pnpm check` before anything else. Its requirements
// are given as arguments here, and `id`, `sudo` and `apt-get` are stand-ins put first on PATH, so nothing is
// installed and the branch taken does not depend on who runs the suite.

const SCRIPT = fileURLToPath(new URL('../../scripts/ensure-system-deps.sh', import.meta.url));
const MISSING = '/nonexistent/claude-guard-test/tool';

let bin: string | undefined;
afterEach(() => {
  if (bin) rmSync(bin, { recursive: true, force: true });
  bin = undefined;
});

/** A directory of stand-in commands: `id -u` prints `uid`, sudo refuses, apt-get logs its arguments. */
function standIns(uid: number, aptExit = 0): { dir: string; aptLog: string } {
  bin = mkdtempSync(join(tmpdir(), 'claude-guard-sysdeps-'));
  const aptLog = join(bin, 'apt-get.log');
  const write = (name: string, body: string) => {
    writeFileSync(join(bin!, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin!, name), 0o755);
  };
  write('id', `echo ${uid}`);
  write('sudo', 'exit 1');
  write(
    'apt-get',
    `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> '${aptLog}'\necho "E: stand-in apt-get $*"\nexit ${aptExit}`,
  );
  return { dir: bin, aptLog };
}

function run(args: string[], path?: string) {
  const env = { ...process.env, ...(path ? { PATH: `${path}:${process.env['PATH'] ?? ''}` } : {}) };
  const result = spawnSync('sh', [SCRIPT, ...args], { env, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('ensure-system-deps.sh', () => {
  it('is silent and succeeds when every required file is there', () => {
    expect(run(['/bin/sh=dash'])).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('without root, stops at once naming each missing package once and the command to install them', () => {
    const { dir, aptLog } = standIns(1000);
    const result = run([`${MISSING}=chromium`, `${MISSING}-2=chromium`, `${MISSING}-3=redis-server`], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('missing here: chromium redis-server');
    expect(result.stderr).toContain('apt-get update && apt-get install -y chromium redis-server');
    expect(() => readFileSync(aptLog)).toThrow(); // apt-get never ran
  });

  it('as root, installs the missing packages with apt-get, then checks the files are there', () => {
    const { dir, aptLog } = standIns(0);
    const result = run(['/bin/sh=dash', `${MISSING}=chromium`], dir);
    expect(readFileSync(aptLog, 'utf8').split('\n')).toEqual([
      'DEBIAN_FRONTEND=noninteractive update -qq',
      'DEBIAN_FRONTEND=noninteractive install -y -qq chromium',
      '',
    ]);
    expect(result.stdout).toContain('Installing the system packages the tests need: chromium');
    // The stand-in apt-get installed nothing: the script says so rather than letting a test fail later.
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`apt-get installed chromium, but ${MISSING} is still missing`);
  });

  it('as root, reports a failing apt-get with its output', () => {
    const { dir } = standIns(0, 100);
    const result = run([`${MISSING}=chromium`], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('E: stand-in apt-get update -qq');
    expect(result.stderr).toContain('apt-get could not install: chromium');
  });
});
