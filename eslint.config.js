// Lint: typescript-eslint with type information (no floating promises), naming, and the
// import-direction rules of STYLE.md B3, written as no-restricted-imports per area:
//   protocol/ imports nothing of ours; common/ only protocol/; supernode/ protocol/ and
//   common/; dfget/ those plus supernode/client.ts; dfdaemon/ those plus dfget/index.ts.
//   Nothing imports a main.ts or cli.ts.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const noMain = { group: ['**/main.js', '**/cli.js'], message: 'nothing imports a composition root or CLI parser (STYLE.md B3)' }
const area = (files, forbidden) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: [noMain, ...forbidden.map((group) => ({ group: [group], message: 'import direction (STYLE.md B3)' }))] }],
  },
})

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tmp/**', 'bench/results/**', 'build-check/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/naming-convention': ['error',
        { selector: 'typeLike', format: ['PascalCase'] },
        { selector: 'interface', format: ['PascalCase'], custom: { regex: '^I[A-Z]', match: false } },
      ],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  area(['src/protocol/**/*.ts'], ['**/common/**', '**/supernode/**', '**/dfget/**', '**/dfdaemon/**']),
  area(['src/common/**/*.ts'], ['**/supernode/**', '**/dfget/**', '**/dfdaemon/**']),
  area(['src/supernode/**/*.ts'], ['**/dfget/**', '**/dfdaemon/**']),
  area(['src/dfget/**/*.ts'], ['**/dfdaemon/**', '**/supernode/!(client).js', '**/supernode/*/**']),
  area(['src/dfdaemon/**/*.ts'], ['**/supernode/!(client).js', '**/supernode/*/**', '**/dfget/!(index).js', '**/dfget/*/**']),
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  { files: ['scripts/**/*.mjs', 'bench/**/*.mjs', 'eslint.config.js'], languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', Buffer: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } } },
)
