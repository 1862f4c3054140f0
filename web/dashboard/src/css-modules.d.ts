/** esbuild bundles the CSS that main.ts imports for its side effect (scripts/build-dashboard.mjs). */
declare module '*.css'
