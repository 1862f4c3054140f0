/**
 * Builds the swarm dashboard (plain TypeScript, no framework) into dist/dashboard/, where
 * the supernode serves it: the page at `/`, its files under `/dashboard/assets/`.
 * `npx vite web/dashboard` serves it for development, with the feed proxied to a supernode
 * on 127.0.0.1:8002 (DAMSELFLY_SUPERNODE=http://host:port to change).
 */
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/dashboard/',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../../dist/dashboard', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // Everything inline in two files; nothing is fetched from anywhere but the supernode.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: { '/api': process.env.DAMSELFLY_SUPERNODE ?? 'http://127.0.0.1:8002' },
  },
})
