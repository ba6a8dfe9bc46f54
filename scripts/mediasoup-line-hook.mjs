// Runs the project against another mediasoup than node_modules/mediasoup, leaving
// node_modules alone: `npm run test:matrix` starts Node with
//   NODE_OPTIONS="--import <this file>"  SFU_RECORDER_MEDIASOUP_DIR=<that mediasoup>
// and every `import 'mediasoup'` (vitest's forks, tsx children, examples) loads that one.
// A URL already resolved into node_modules/mediasoup is moved too, so whichever way an
// import arrives, one process never mixes two mediasoup versions.
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.env.SFU_RECORDER_MEDIASOUP_DIR;
if (dir) {
	const target = pathToFileURL(path.resolve(dir) + path.sep).href;
	const hooks = `
		const target = ${JSON.stringify(target)};
		const installed = /\\/node_modules\\/mediasoup\\//;
		export async function resolve(specifier, context, next) {
			if (specifier === 'mediasoup' || specifier.startsWith('mediasoup/')) {
				return next(specifier, { ...context, parentURL: new URL('package.json', target).href });
			}
			const result = await next(specifier, context);
			const at = result.url.search(installed);
			if (at >= 0 && !result.url.startsWith(target)) {
				return { ...result, url: target + result.url.slice(at + '/node_modules/mediasoup/'.length) };
			}
			return result;
		}`;
	register(`data:text/javascript,${encodeURIComponent(hooks)}`);
}
