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
  // The CLI (top-level await) and the capture thread's entry run as ES modules only;
  // the capture thread is loaded as `capture-worker.js` next to the library's chunks.
  { ...shared, entry: { cli: 'src/cli.ts', 'capture-worker': 'src/capture/capture-worker.ts' }, format: ['esm'], dts: false },
  // The BrowserPeer's page (sfu-recorder/testing): mediasoup-client bundled for Chromium,
  // loaded as `browser-page.global.js` next to the testing entry.
  {
    entry: { 'browser-page': 'src/testing/browser/page.ts' },
    format: ['iife'],
    platform: 'browser',
    target: 'chrome120',
    noExternal: ['mediasoup-client'],
    dts: false,
    sourcemap: false,
  },
]);
