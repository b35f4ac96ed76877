import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, fencedBlocks, readmes, type FencedBlock } from './readme-blocks.js';

// What the READMEs show must work (issue 12):
// - every fenced ```ts block of every README is type-checked, strict, against the BUILT packages (`pnpm check`
//   builds first), each block as its own ES module among the tests (so it resolves what test/ resolves);
// - every command of a ```sh block is exercised in CI: each maps to the place that runs it, and that place is
//   checked to still run it. A command nobody runs fails here until it gets a place.
//
// A block that is a fragment (it uses `app`, `guard`, `handler`... from the text around it) gets what it takes
// for granted from its README's prelude below, and only the names it uses and does not declare itself. The
// preludes are the whole list of what fragments may assume: keep them minimal (a name no block uses fails).

/** Per README: what its fragments take for granted, as a module. */
const PRELUDES: Record<string, string> = {
  // The Hono app of "Hono in 10 lines"; the breaker-tuning block's `app.post(path, claudeGuard(...), handler)`
  // reads the same on either adapter.
  'README.md': `
    import type { ClaudeGuard } from '@claude-guard/core';
    import type { Handler, Hono } from 'hono';
    export { claudeGuard } from '@claude-guard/hono';
    export declare const app: Hono;
    export declare const guard: ClaudeGuard;
    export declare const handler: Handler;
  `,
  // "The three ways to choose a fault" and "Rate limits" continue the test of the quick start.
  'packages/fake-anthropic/README.md': `
    import type { MessageCreateParamsNonStreaming } from '@anthropic-ai/sdk/resources/messages';
    import type { Anthropic } from '@anthropic-ai/sdk';
    import type { FakeAnthropic } from '@claude-guard/fake-anthropic';
    export { Anthropic } from '@anthropic-ai/sdk';
    export { createFakeAnthropic } from '@claude-guard/fake-anthropic';
    export declare const client: Anthropic;
    export declare const fake: FakeAnthropic;
    export declare const params: MessageCreateParamsNonStreaming;
  `,
  // The OpenTelemetry block continues the Prometheus one: the same client, createClaudeGuard imported.
  'packages/telemetry/README.md': `
    import type { Anthropic } from '@anthropic-ai/sdk';
    export { createClaudeGuard } from '@claude-guard/core';
    export declare const client: Anthropic;
  `,
};

/**
 * Blocks known not to compile, by README and heading, each with why: the test expects them to fail, so that it
 * fails once they compile and the entry must go. Fix the README or the code rather than adding one.
 */
const KNOWN_BROKEN: Record<string, string> = {};

const knownBroken = (block: FencedBlock): string | undefined =>
  Object.entries(KNOWN_BROKEN).find(([key]) => {
    const [readme, heading, marker] = key.split('#');
    return block.readme === readme && block.heading === heading && block.code.includes(marker!);
  })?.[1];

const TS_LANGS = new Set(['ts', 'typescript']);
const SHELL_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
/** Where the blocks live for the compiler: files that do not exist, among the tests. */
const VIRTUAL = join(ROOT, 'test/docs/.readme-code');

const slug = (readme: string) => readme.replace(/\/README\.md$|\.md$/, '').replace(/[^A-Za-z0-9]+/g, '-');
const blockFile = (block: FencedBlock) => join(VIRTUAL, slug(block.readme), `line-${block.line}.mts`);
const preludeFile = (readme: string) => join(VIRTUAL, slug(readme), 'prelude.mts');

const tsBlocks = readmes().flatMap((readme) => fencedBlocks(readme).filter((block) => TS_LANGS.has(block.lang)));

/**
 * Names a block declares (anywhere: imports, variables, parameters, functions, classes, types), and the
 * names it refers to (not a property's name after a dot or before a colon).
 */
function namesOf(code: string): { declared: Set<string>; used: Set<string> } {
  const source = ts.createSourceFile('block.mts', code, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const declared = new Set<string>();
  const used = new Set<string>();
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node)) {
      const parent = node.parent;
      const named = (parent as { name?: ts.Node }).name === node;
      if (
        named &&
        (ts.isPropertyAccessExpression(parent) || ts.isPropertyAssignment(parent) || ts.isQualifiedName(parent))
      ) {
        // `a.name`, `{ name: value }`: not a reference to `name`.
      } else if (
        named &&
        (ts.isVariableDeclaration(parent) ||
          ts.isParameter(parent) ||
          ts.isBindingElement(parent) ||
          ts.isFunctionDeclaration(parent) ||
          ts.isClassDeclaration(parent) ||
          ts.isInterfaceDeclaration(parent) ||
          ts.isTypeAliasDeclaration(parent) ||
          ts.isEnumDeclaration(parent) ||
          ts.isImportSpecifier(parent) ||
          ts.isImportClause(parent) ||
          ts.isNamespaceImport(parent))
      ) {
        declared.add(node.text);
      } else if (!named || !(ts.isPropertySignature(parent) || ts.isMethodDeclaration(parent))) {
        used.add(node.text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return { declared, used };
}

/** The names of a prelude's exports. */
function exportsOf(prelude: string): string[] {
  const source = ts.createSourceFile('prelude.mts', prelude, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const names: string[] = [];
  for (const statement of source.statements) {
    if (ts.isExportDeclaration(statement) && statement.exportClause && ts.isNamedExports(statement.exportClause)) {
      for (const element of statement.exportClause.elements) names.push(element.name.text);
    } else if (
      ts.isVariableStatement(statement) &&
      statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
    ) {
      for (const declaration of statement.declarationList.declarations) {
        if (ts.isIdentifier(declaration.name)) names.push(declaration.name.text);
      }
    }
  }
  return names;
}

/** What a block takes from its README's prelude: the names it uses, does not declare, and the prelude has. */
function takenFromPrelude(block: FencedBlock): string[] {
  const prelude = PRELUDES[block.readme];
  if (!prelude) return [];
  const { declared, used } = namesOf(block.code);
  return exportsOf(prelude).filter((name) => used.has(name) && !declared.has(name));
}

/** The block as the compiler sees it: the prelude's import on its first line, so line numbers stay the README's. */
function moduleText(block: FencedBlock): string {
  const taken = takenFromPrelude(block);
  const preamble = taken.length > 0 ? `import { ${taken.join(', ')} } from './prelude.mjs'; ` : '';
  // `export {}`: a block without import or export is still a module of its own.
  return `${preamble}${block.code}\nexport {};\n`;
}

/** The tests' compiler options (the repository's strict base), checking only: no output, no unused-name errors. */
function compilerOptions(): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(ROOT, 'test/tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error('test/tsconfig.json could not be read');
  const options: ts.CompilerOptions = {
    ...parsed.options,
    noEmit: true,
    composite: false,
    declaration: false,
    declarationMap: false,
    emitDeclarationOnly: false,
    incremental: false,
    // A snippet may name something only to show it.
    noUnusedLocals: false,
    noUnusedParameters: false,
  };
  delete options.tsBuildInfoFile;
  delete options.outDir;
  return options;
}

/** Type-checks every block in one program; the diagnostics of each block's file, as README locations. */
function typeCheck(blocks: FencedBlock[]): Map<FencedBlock, string[]> {
  const files = new Map<string, string>();
  for (const block of blocks) files.set(blockFile(block), moduleText(block));
  for (const [readme, prelude] of Object.entries(PRELUDES)) files.set(preludeFile(readme), prelude);
  const options = compilerOptions();
  const host = ts.createCompilerHost(options, true);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  const directoryExists = host.directoryExists?.bind(host);
  const directories = new Set([...files.keys()].map((file) => dirname(file)));
  host.fileExists = (name) => files.has(name) || fileExists(name);
  host.readFile = (name) => files.get(name) ?? readFile(name);
  host.directoryExists = (name) =>
    [...directories].some((dir) => dir === name || dir.startsWith(`${name}/`)) || (directoryExists?.(name) ?? true);
  host.getSourceFile = (name, language, onError, create) => {
    const text = files.get(name);
    return text === undefined
      ? getSourceFile(name, language, onError, create)
      : ts.createSourceFile(name, text, language, true, ts.ScriptKind.TS);
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options, host });
  const found = new Map<FencedBlock, string[]>();
  for (const block of blocks) {
    const source = program.getSourceFile(blockFile(block));
    const diagnostics = source ? ts.getPreEmitDiagnostics(program, source) : [];
    found.set(
      block,
      diagnostics.map((diagnostic) => {
        const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
        if (!diagnostic.file || diagnostic.start === undefined) return `TS${diagnostic.code}: ${text}`;
        const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
        const where = diagnostic.file === source ? `${block.readme}:${block.line + line}` : diagnostic.file.fileName;
        return `${where} TS${diagnostic.code}: ${text}`;
      }),
    );
  }
  // A prelude must compile too.
  for (const readme of Object.keys(PRELUDES)) {
    const source = program.getSourceFile(preludeFile(readme));
    const errors = source ? ts.getPreEmitDiagnostics(program, source) : [];
    if (errors.length > 0) {
      throw new Error(
        `${readme}'s prelude: ${errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, ' ')).join('; ')}`,
      );
    }
  }
  return found;
}

describe('every ```ts block of every README type-checks against the built packages', () => {
  let diagnostics: Map<FencedBlock, string[]>;
  beforeAll(() => {
    diagnostics = typeCheck(tsBlocks);
  }, 120_000);

  it('finds the blocks (the quick starts at least)', () => {
    const where = tsBlocks.map((block) => block.readme);
    for (const readme of [
      'README.md',
      'packages/core/README.md',
      'packages/express/README.md',
      'packages/hono/README.md',
    ]) {
      expect(where).toContain(readme);
    }
  });

  const compiling = tsBlocks.filter((block) => !knownBroken(block));
  it.each(compiling.map((block) => [`${block.readme}:${block.line} (${block.heading})`, block] as const))(
    '%s',
    (_where, block) => {
      expect(diagnostics.get(block)).toEqual([]);
    },
  );

  const broken = tsBlocks.filter((block) => knownBroken(block));
  it.each(broken.map((block) => [`${block.readme}:${block.line}`, knownBroken(block)!, block] as const))(
    '%s does not compile yet: %s',
    (_where, _why, block) => {
      expect(diagnostics.get(block), 'it compiles now: remove its KNOWN_BROKEN entry').not.toEqual([]);
    },
  );

  it('every KNOWN_BROKEN entry names a block', () => {
    expect(Object.keys(KNOWN_BROKEN).length).toBe(broken.length);
  });

  it.each(Object.entries(PRELUDES))(
    'the prelude of %s is minimal: a block uses each of its names',
    (readme, prelude) => {
      const taken = new Set(tsBlocks.filter((block) => block.readme === readme).flatMap(takenFromPrelude));
      expect(exportsOf(prelude).filter((name) => !taken.has(name))).toEqual([]);
    },
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Shell blocks: every command, and where CI runs it.

interface Command {
  readme: string;
  /** The heading its block sits under. */
  heading: string;
  line: number;
  text: string;
}

/** The commands of a shell block: its lines without comments, `\`-continued lines joined. */
function commandsOf(block: FencedBlock): Command[] {
  const commands: Command[] = [];
  const lines = block.code.split('\n');
  for (let index = 0; index < lines.length; index++) {
    let text = lines[index]!.trim();
    const line = block.line + index;
    if (text === '' || text.startsWith('#')) continue;
    while (text.endsWith('\\') && index + 1 < lines.length)
      text = `${text.slice(0, -1).trim()} ${lines[++index]!.trim()}`;
    commands.push({ readme: block.readme, heading: block.heading, line, text });
  }
  return commands;
}

const commands = readmes().flatMap((readme) =>
  fencedBlocks(readme)
    .filter((block) => SHELL_LANGS.has(block.lang))
    .flatMap(commandsOf),
);

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The projects test/packaging/packed-tarballs.test.ts installs with npm from the packed tarballs, read from its source. */
function packedProjects(): { name: string; installs: Set<string> }[] {
  const path = 'test/packaging/packed-tarballs.test.ts';
  const source = ts.createSourceFile(path, read(path), ts.ScriptTarget.Latest, true);
  let projects: ts.ArrayLiteralExpression | undefined;
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'PROJECTS') {
      if (node.initializer && ts.isArrayLiteralExpression(node.initializer)) projects = node.initializer;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!projects)
    throw new Error(`${path} has no PROJECTS array any more: map the install commands to what replaced it`);
  return projects.elements.filter(ts.isObjectLiteralExpression).map((project) => {
    const strings = (key: string): string[] => {
      const property = project.properties.find(
        (p): p is ts.PropertyAssignment => ts.isPropertyAssignment(p) && ts.isIdentifier(p.name) && p.name.text === key,
      );
      if (!property) return [];
      if (ts.isStringLiteral(property.initializer)) return [property.initializer.text];
      if (!ts.isArrayLiteralExpression(property.initializer)) return [];
      return property.initializer.elements.filter(ts.isStringLiteral).map((element) => element.text);
    };
    const installs = new Set([
      ...strings('packages').map((name) => `@claude-guard/${name}`),
      // express4 is express@4 under an alias, installed as `express`.
      ...[...strings('dependencies'), ...strings('devDependencies')].map((name) =>
        name === 'express4' ? 'express' : name,
      ),
    ]);
    return { name: strings('name')[0] ?? '?', installs };
  });
}

const INSTALL = /^npm install (?:--save-dev |-D )?((?:@?[a-z0-9][\w./-]*(?: |$))+)$/;

/** Where a command runs in CI: a description, and a check that it still does (throws if not). */
interface Exercised {
  where: string;
  check(command: Command): void | Promise<void>;
}

const CI_COMMAND_LINE = (text: string): Exercised => ({
  where: '.ci/run, verbatim (CI runs exactly the README’s command)',
  check: () => {
    expect(read('.ci/run').split('\n')).toContain(text);
  },
});

/** The commands that are not `npm install`s, each with where it runs. */
const EXERCISED: Record<string, Exercised> = {
  'npx -y pnpm@10.34.9 install --frozen-lockfile && npx -y pnpm@10.34.9 check': CI_COMMAND_LINE(
    'npx -y pnpm@10.34.9 install --frozen-lockfile && npx -y pnpm@10.34.9 check',
  ),
  'npx -y pnpm@10.34.9 install --frozen-lockfile && npx -y pnpm@10.34.9 demo': {
    where:
      'the install is .ci/run’s; `demo` is `pnpm --dir examples/hono start`, which test/examples/examples.test.ts runs with npx -y pnpm@10.34.9',
    check: () => {
      expect(read('.ci/run')).toContain('npx -y pnpm@10.34.9 install --frozen-lockfile && ');
      expect((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['demo']).toBe(
        'pnpm --dir examples/hono start',
      );
      const examples = read('test/examples/examples.test.ts');
      expect(examples).toContain("describe.each(['express', 'hono'])('pnpm --dir examples/%s start'");
      expect(examples).toContain("spawn('npx', ['-y', 'pnpm@10.34.9', '--dir', `examples/${name}`, 'start']");
    },
  },
  'fake-anthropic --port 4010 --fault-rate 0.2 --fault overloaded --token-delay-ms 20 --seed 1': {
    where: 'here: the built command, on a free port instead of 4010, answers and stops with status 0 on SIGINT',
    check: runFakeAnthropicCommand,
  },
};

/** The README's local fleet recipe: test/fleet/readme-recipe.test.ts runs its block, every command of it, with bash. */
const FLEET_RECIPE_HEADING = 'Running several replicas (`store`, `fleet`)';
const FLEET_RECIPE: Exercised = {
  where:
    'test/fleet/readme-recipe.test.ts: bash runs the whole block from the root (free ports instead of the shown ones)',
  check: () => {
    const test = read('test/fleet/readme-recipe.test.ts');
    expect(test).toContain(`const RECIPE_HEADING = '${FLEET_RECIPE_HEADING}';`);
    expect(test).toContain(
      "fencedBlocks('README.md').filter((block) => block.heading === RECIPE_HEADING && block.lang === 'sh')",
    );
    expect(test).toContain("spawn('bash', ['-e', '-c', script]");
  },
};

function exercised(command: Command): Exercised | undefined {
  const known = EXERCISED[command.text];
  if (known) return known;
  if (command.readme === 'README.md' && command.heading === FLEET_RECIPE_HEADING) return FLEET_RECIPE;
  const install = INSTALL.exec(command.text);
  if (!install) return undefined;
  const names = install[1]!.trim().split(' ');
  return {
    where:
      'test/packaging/packed-tarballs.test.ts: a fresh npm project installs these packages (ours from the packed tarballs)',
    check: () => {
      const projects = packedProjects();
      const covering = projects.filter((project) => names.every((name) => project.installs.has(name)));
      expect(
        covering.map((project) => project.name),
        `no packed-tarball project installs all of ${names.join(', ')}; projects: ${projects
          .map((project) => `${project.name} [${[...project.installs].join(', ')}]`)
          .join('; ')}`,
      ).not.toEqual([]);
    },
  };
}

/** Runs the README's fake-anthropic command (the built bin, on port 0) and sends it one request. */
async function runFakeAnthropicCommand(command: Command): Promise<void> {
  const args = command.text.split(' ').slice(1);
  const port = args.indexOf('--port');
  expect(args[port + 1]).toBe('4010');
  args[port + 1] = '0';
  const bin = join(ROOT, 'packages/fake-anthropic/bin/fake-anthropic.js');
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let output = '';
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line:\n${output}`)), 10_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const match = /^fake-anthropic listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      void exited.then((code) => reject(new Error(`exited ${code}:\n${output}`)));
    });
    // The README shows the line it prints.
    expect(read(command.readme)).toContain(`# fake-anthropic listening on http://127.0.0.1:4010`);
    const response = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': 'k', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-5', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    });
    // --fault-rate 0.2 --fault overloaded: a normal answer or an overloaded one.
    expect([200, 529]).toContain(response.status);
    await response.text();
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
}

describe('every command of a README’s ```sh block is exercised in CI', () => {
  it('finds the commands (the quick start’s two, and the fleet recipe’s eight)', () => {
    const root = commands.filter((command) => command.readme === 'README.md');
    expect(root.filter((command) => command.heading !== FLEET_RECIPE_HEADING)).toHaveLength(2);
    expect(root.filter((command) => command.heading === FLEET_RECIPE_HEADING)).toHaveLength(8);
  });

  it.each(commands.map((command) => [`${command.readme}:${command.line} \`${command.text}\``, command] as const))(
    '%s',
    async (_where, command) => {
      const place = exercised(command);
      expect(
        place,
        'a README command that CI does not run: map it in EXERCISED (where it runs, and a check)',
      ).toBeDefined();
      await place!.check(command);
    },
    30_000,
  );
});
