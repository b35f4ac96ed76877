import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

/** Node's built-in modules by their bare names (`events`, `fs/promises`), as `require` and old imports name them. */
const NODE_BUILTINS = builtinModules.filter((name) => !name.startsWith('_'));

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/.tsbuild/**',
      '**/node_modules/**',
      'coverage/**',
      'bench/results/**',
      'test-artifacts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs', '*.ts', 'bench/*.mjs', 'packages/*/tsup.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use a union of string literals instead of enum.' },
      ],
    },
  },
  {
    // Adapters translate; they may only use core's public entry point.
    files: ['packages/express/src/**', 'packages/hono/src/**', 'examples/**', 'test/**', 'bench/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@claude-guard/*/src/*', '../../core/*', '../core/*'],
              message: 'Import @claude-guard/core, not its internals.',
            },
          ],
        },
      ],
    },
  },
  {
    // Core and the Hono adapter run unchanged on Node, Bun, Deno and Cloudflare Workers (README "Runtimes"):
    // Web standards only. Node's modules and globals exist on Workers only under `nodejs_compat`, and not at
    // all in some of Hono's other targets. Tests run on Node and may use them.
    files: ['packages/core/src/**', 'packages/hono/src/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['node:*'],
              message: 'Core and @claude-guard/hono are Web-standard: no Node built-in modules (README "Runtimes").',
            },
            {
              group: [...NODE_BUILTINS],
              message: 'Core and @claude-guard/hono are Web-standard: no Node built-in modules (README "Runtimes").',
            },
            {
              group: ['@claude-guard/*/src/*', '../../core/*', '../core/*'],
              message: 'Import @claude-guard/core, not its internals.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...[
          'Buffer',
          'process',
          'setImmediate',
          'clearImmediate',
          'require',
          'module',
          'global',
          '__dirname',
          '__filename',
        ].map((name) => ({
          name,
          message: `\`${name}\` is Node's: core and @claude-guard/hono are Web-standard (README "Runtimes").`,
        })),
      ],
    },
  },
  {
    // The one Node module core uses: `AsyncLocalStorage` (node:async_hooks) for guard.middleware()'s request
    // context, which Bun, Deno and Workers (`nodejs_compat` or `nodejs_als`) all provide. Only this file imports it.
    files: ['packages/core/src/async-context.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
