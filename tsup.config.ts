import { defineConfig, type Options } from 'tsup';

const shared: Options = {
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  // mediasoup is the host application's; never bundle it.
  external: ['mediasoup'],
  shims: true,
};

export default defineConfig([
  // The library: ESM and CommonJS, with declarations for both.
  { ...shared, entry: { index: 'src/index.ts', testing: 'src/testing/index.ts' }, format: ['esm', 'cjs'], dts: true },
  // The CLI runs as an ES module only (it uses top-level await).
  { ...shared, entry: { cli: 'src/cli.ts' }, format: ['esm'], dts: false },
]);
