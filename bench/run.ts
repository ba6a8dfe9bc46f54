/**
 * Benchmark dispatcher: `npm run bench -- <name> [options]`. Each benchmark is a module
 * exporting `main(argv)`, loaded only when asked for.
 */
type Bench = { main: (argv: readonly string[]) => Promise<void> };

const benches: Record<string, () => Promise<Bench>> = {
  composite: () => import('./composite.js'),
};

const [name, ...argv] = process.argv.slice(2);
const load = name ? benches[name] : undefined;
if (!load) {
  console.error(`usage: npm run bench -- <${Object.keys(benches).join('|')}> [options]`);
  process.exitCode = 2;
} else {
  try {
    await (await load()).main(argv);
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  }
}
