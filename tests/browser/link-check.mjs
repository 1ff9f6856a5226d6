// Checks the links of the built book without a network or a browser.
//
//     node tests/browser/link-check.mjs BOOK_DIR
//
// Every *.html file under BOOK_DIR is read, and every href and src in it that
// is not a link off the site (http:, https:, mailto:, data:, javascript:,
// tel:, or //host) must name a file under BOOK_DIR; if it has a #fragment,
// the page it names must have an element with that id (or an <a name>).
// Links resolve as a browser resolves them, <base href> included: mdBook puts
// one in 404.html, pointing at site-url, and the site's files are taken to
// live under that path. One exception: a link that is only a #fragment is
// checked against its own page, as its author meant (a browser would resolve
// it against the <base>, which on mdBook's 404 page sends the heading's own
// anchor to the index; nothing in this book can change that). Exits 1 with
// the list of broken links.

import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const bookDir = resolve(process.argv[2] ?? 'book');
if (!existsSync(join(bookDir, 'index.html'))) {
    console.error(`link-check: ${bookDir}/index.html is missing; run \`mdbook build\` first`);
    process.exit(2);
}

// A made-up origin to resolve URLs against; it never leaves this process.
const ORIGIN = 'http://book.invalid';
const EXTERNAL = /^(?:[a-z][a-z0-9+.-]*:|\/\/)/i; // any scheme, or protocol-relative

function htmlFiles(dir) {
    const out = [];
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) out.push(...htmlFiles(path));
        else if (entry.name.endsWith('.html')) out.push(path);
    }
    return out;
}

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'", '#x27': "'" };
const unescape = (s) => s.replace(/&(amp|lt|gt|quot|apos|#39|#x27);/g, (_, e) => ENTITIES[e]);

/** The attributes of every start tag in `html`, comments and scripts' bodies skipped. */
function* tags(html) {
    const text = html
        .replace(/<!--[\s\S]*?-->/g, '')
        .replace(/(<script\b[^>]*>)[\s\S]*?(<\/script>)/gi, '$1$2');
    for (const tag of text.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)(\s[^>]*)?>/g)) {
        const attrs = {};
        for (const a of (tag[2] ?? '').matchAll(/([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g)) {
            attrs[a[1].toLowerCase()] = unescape(a[2] ?? a[3] ?? a[4] ?? '');
        }
        yield { name: tag[1].toLowerCase(), attrs };
    }
}

const pages = htmlFiles(bookDir).map((file) => {
    const html = readFileSync(file, 'utf8');
    const ids = new Set();
    const links = [];
    let base = null;
    for (const { name, attrs } of tags(html)) {
        if (attrs.id !== undefined) ids.add(attrs.id);
        if (name === 'a' && attrs.name !== undefined) ids.add(attrs.name);
        if (name === 'base' && attrs.href !== undefined) base = attrs.href;
        for (const attr of ['href', 'src']) {
            if (attrs[attr] !== undefined) links.push({ tag: name, attr, value: attrs[attr] });
        }
    }
    return { file, rel: relative(bookDir, file).split(sep).join('/'), ids, links, base };
});

// Where the site lives on its server: the path of a <base href="/x/"> (from
// site-url), else the root. Every page sits under it.
const prefixes = new Set(pages.filter((p) => p.base?.startsWith('/')).map((p) => p.base));
if (prefixes.size > 1) {
    console.error(`link-check: pages disagree on <base href>: ${[...prefixes].join(', ')}`);
    process.exit(1);
}
const prefix = [...prefixes][0]?.replace(/\/?$/, '/') ?? '/';

const byRel = new Map(pages.map((p) => [p.rel, p]));
const broken = [];
let checked = 0;

for (const page of pages) {
    const pageUrl = new URL(prefix + page.rel, ORIGIN);
    const baseUrl = page.base === null ? pageUrl : new URL(page.base, pageUrl);
    for (const link of page.links) {
        const value = link.value.trim();
        if (value === '' || EXTERNAL.test(value)) continue;
        checked++;
        const where = `${page.rel}: <${link.tag} ${link.attr}="${link.value}">`;
        const url = new URL(value, value.startsWith('#') ? pageUrl : baseUrl);
        if (url.origin !== ORIGIN || !url.pathname.startsWith(prefix)) {
            broken.push(`${where}: points outside the book (${url.pathname})`);
            continue;
        }
        let target;
        try {
            target = decodeURIComponent(url.pathname.slice(prefix.length));
        } catch {
            broken.push(`${where}: cannot decode the path`);
            continue;
        }
        let file = resolve(bookDir, target);
        if (file !== bookDir && !file.startsWith(bookDir + sep)) {
            broken.push(`${where}: points outside the book`);
            continue;
        }
        if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
        if (!existsSync(file)) {
            broken.push(`${where}: no such file ${relative(bookDir, file) || '.'}`);
            continue;
        }
        const fragment = url.hash.slice(1);
        if (fragment === '' || fragment === 'top') continue; // both mean the top of the page
        const targetPage = byRel.get(relative(bookDir, file).split(sep).join('/'));
        if (targetPage === undefined) continue; // a fragment into an image or a script
        let id;
        try {
            id = decodeURIComponent(fragment);
        } catch {
            id = fragment;
        }
        if (!targetPage.ids.has(id)) broken.push(`${where}: ${targetPage.rel} has no id "${id}"`);
    }
}

console.log(`link-check: ${checked} links in ${pages.length} pages under ${bookDir}` +
    (prefix === '/' ? '' : ` (site path ${prefix})`));
if (broken.length > 0) {
    console.error(`link-check: ${broken.length} broken link(s):`);
    for (const b of broken) console.error(`  ${b}`);
    process.exit(1);
}
console.log('link-check: every relative link and #fragment resolves');
