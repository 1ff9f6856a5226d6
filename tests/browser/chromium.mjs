// What the browser test and the PDF build share: the flags Chromium runs
// with, and the server that shows it the built book.

import { createServer } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';

// Flags that keep Chromium quiet on a machine without outside network:
// without them it tries to reach Google's servers at every start.
export const CHROMIUM_ARGS = [
    '--no-sandbox', // CI runs as root, where Chromium's sandbox cannot start
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
];

const TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.jpg': 'image/jpeg',
    '.ico': 'image/x-icon',
    '.json': 'application/json',
    '.woff': 'font/woff',
    '.woff2': 'font/woff2',
    '.ttf': 'font/ttf',
    '.txt': 'text/plain; charset=utf-8',
};

/** Serves `root` read-only on 127.0.0.1, on a port the kernel picks. */
export function serve(root) {
    const server = createServer((request, response) => {
        let path;
        try {
            path = decodeURIComponent(new URL(request.url, 'http://x').pathname);
        } catch {
            response.writeHead(400).end();
            return;
        }
        let file = resolve(join(root, path));
        if (file !== root && !file.startsWith(root + sep)) {
            response.writeHead(403).end();
            return;
        }
        if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
        if (!existsSync(file) || !statSync(file).isFile()) {
            response.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
            return;
        }
        response.writeHead(200, {
            'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
        });
        createReadStream(file).pipe(response);
    });
    return new Promise((ok, fail) => {
        server.once('error', fail);
        server.listen(0, '127.0.0.1', () => ok(server));
    });
}
