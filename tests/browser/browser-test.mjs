// Opens the built book in headless Chromium, as a reader would, and checks
// every chapter the sidebar lists.
//
//     node tests/browser/browser-test.mjs BOOK_DIR [SCREENSHOT_DIR]
//
// BOOK_DIR is what `mdbook build` wrote (book/). This script builds nothing:
// it serves BOOK_DIR on 127.0.0.1 (a port the kernel picks) and drives
// Debian's /usr/bin/chromium (or $CHROMIUM) through playwright-core, which
// downloads no browser of its own. For each chapter it checks that
//
// - the chapter's title rendered: the page has an <h1> with text;
// - no `{{#` is left: an include that mdBook did not expand;
// - every <img> loaded (naturalWidth > 0);
// - every Rust code block was highlighted (highlight.js left `hljs-` spans);
// - the page logged no console error, threw nothing and requested nothing
//   that failed, nor anything off this machine: the book must work offline;
//
// and that typing "recvall" into the search box lists the chapter on step 4.
// Screenshots of a few chapters, in the default theme and in each of
// mdBook's five themes, go to SCREENSHOT_DIR (default: target/browser/) for a
// person to look at; nothing compares them automatically.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, serve } from './chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const bookDir = resolve(process.argv[2] ?? join(repo, 'book'));
const shotDir = resolve(process.argv[3] ?? join(repo, 'target', 'browser'));
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

// What a reader types into the search box, and the page that must come up.
const SEARCH_TERM = 'recvall';
const SEARCH_EXPECT = 'step4-recvall.html';
// Chapters photographed for a person to look at, and the theme check.
const SCREENSHOTS = ['introduction.html', 'tcp-in-brief.html', 'watching-tcp-split.html'];
const THEMES = ['light', 'rust', 'coal', 'navy', 'ayu'];
const THEME_PAGE = 'tcp-in-brief.html';

const problems = [];
const problem = (page, what) => problems.push(`${page}: ${what}`);

/** A fresh browser context whose pages report every error to `problem`. */
async function newContext(browser, origin, theme) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    if (theme) {
        await context.addInitScript((t) => localStorage.setItem('mdbook-theme', t), theme);
    }
    context.origin = origin;
    return context;
}

function pageName(url, origin) {
    return url.startsWith(origin) ? url.slice(origin.length + 1) || 'index.html' : url;
}

/** Opens `url` in a new page, recording console errors, exceptions, failed requests. */
async function open(context, url, name) {
    const page = await context.newPage();
    // Nothing may leave the machine: the book is a static site of its own.
    await page.route('**/*', (route) => {
        const requested = route.request().url();
        if (requested.startsWith(context.origin + '/')) return route.continue();
        problem(name, `requested ${requested}, which is not part of the book`);
        return route.abort();
    });
    page.on('console', (message) => {
        if (message.type() === 'error') problem(name, `console error: ${message.text()}`);
    });
    page.on('pageerror', (error) => problem(name, `uncaught exception: ${error.message}`));
    page.on('requestfailed', (request) => {
        problem(name, `request failed: ${request.url()} (${request.failure()?.errorText})`);
    });
    page.on('response', (response) => {
        if (response.status() >= 400) problem(name, `HTTP ${response.status()} for ${response.url()}`);
    });
    await page.goto(url, { waitUntil: 'load' });
    // Images load on their own time; give them a moment, then judge.
    await page
        .waitForFunction(() => Array.from(document.images).every((img) => img.complete), null, {
            timeout: 10_000,
        })
        .catch(() => {});
    return page;
}

/** The checks every chapter must pass. */
async function checkChapter(page, name) {
    const found = await page.evaluate(() => {
        const main = document.querySelector('main');
        const h1 = main?.querySelector('h1');
        const text = main?.textContent ?? '';
        const at = text.indexOf('{{#');
        return {
            hasMain: Boolean(main),
            h1: h1 ? h1.textContent.trim() : null,
            include: at < 0 ? null : text.slice(at, at + 80).replace(/\s+/g, ' '),
            images: Array.from(document.images).map((img) => ({
                src: img.getAttribute('src'),
                complete: img.complete,
                width: img.naturalWidth,
            })),
            rust: Array.from(document.querySelectorAll('code.language-rust')).map((code) => ({
                highlighted: Boolean(code.querySelector('[class^="hljs-"], [class*=" hljs-"]')),
                start: code.textContent.trim().split('\n')[0].slice(0, 60),
            })),
        };
    });
    if (!found.hasMain) problem(name, 'no <main> element: not an mdBook page?');
    if (found.h1 === null) problem(name, 'no <h1>: the chapter title did not render');
    else if (found.h1 === '') problem(name, 'the <h1> is empty');
    if (found.include !== null) problem(name, `an unexpanded include is in the text: "${found.include}"`);
    for (const img of found.images) {
        if (!img.complete || img.width === 0) problem(name, `image did not load: ${img.src}`);
    }
    for (const block of found.rust) {
        if (!block.highlighted) problem(name, `Rust code block not highlighted: "${block.start}"`);
    }
    return found;
}

/** Types the search term as a reader would: press `s`, type, read the list. */
async function checkSearch(context, origin) {
    const name = `search for "${SEARCH_TERM}"`;
    const page = await open(context, `${origin}/introduction.html`, name);
    await page.keyboard.press('s');
    const bar = page.locator('#mdbook-searchbar');
    await bar.waitFor({ state: 'visible', timeout: 5_000 }).catch(() => {});
    if (!(await bar.isVisible())) {
        problem(name, 'pressing "s" did not open the search box');
        await page.close();
        return;
    }
    await bar.pressSequentially(SEARCH_TERM, { delay: 20 });
    const results = page.locator('#mdbook-searchresults li a');
    await results.first().waitFor({ timeout: 10_000 }).catch(() => {});
    const hrefs = await results.evaluateAll((links) => links.map((a) => a.getAttribute('href')));
    if (hrefs.length === 0) {
        problem(name, 'no results listed');
    } else if (!hrefs.some((href) => href.split(/[?#]/)[0].endsWith(SEARCH_EXPECT))) {
        const some = hrefs.slice(0, 8).map((href) => href.split('?')[0]).join(', ');
        problem(name, `${SEARCH_EXPECT} is not among the ${hrefs.length} results: ${some}, ...`);
    } else {
        console.log(`  ok   ${name}: ${hrefs.length} results, ${SEARCH_EXPECT} among them`);
    }
    await page.screenshot({ path: join(shotDir, 'search-recvall.png') });
    await page.close();
}

async function main() {
    if (!existsSync(join(bookDir, 'index.html'))) {
        console.error(`browser-test: ${bookDir}/index.html is missing; run \`mdbook build\` first`);
        process.exit(2);
    }
    if (!existsSync(chromiumPath)) {
        console.error(`browser-test: no Chromium at ${chromiumPath} ` +
            '(apt-get install chromium, or set CHROMIUM to its path)');
        process.exit(2);
    }
    mkdirSync(join(shotDir, 'themes'), { recursive: true });

    const server = await serve(bookDir);
    const origin = `http://127.0.0.1:${server.address().port}`;
    const browser = await chromium.launch({
        executablePath: chromiumPath,
        headless: true,
        args: CHROMIUM_ARGS,
    });
    console.log(`browser-test: ${bookDir} served at ${origin}, ${browser.version()}`);

    try {
        const context = await newContext(browser, origin);

        // The sidebar is the reader's list of chapters.
        const index = await open(context, `${origin}/index.html`, 'index.html');
        const chapters = await index.evaluate(() =>
            Array.from(document.querySelectorAll('#mdbook-sidebar ol.chapter a[href]'))
                .map((a) => a.href));
        await index.close();
        const pages = [...new Set(chapters.map((href) => href.split('#')[0]))]
            .filter((href) => href.startsWith(origin + '/'));
        if (pages.length === 0) problem('index.html', 'the sidebar lists no chapters');
        // The print page holds every chapter again; it must render as well.
        pages.push(`${origin}/print.html`);

        for (const url of pages) {
            const name = pageName(url, origin);
            const before = problems.length;
            const page = await open(context, url, name);
            const found = await checkChapter(page, name);
            if (SCREENSHOTS.includes(name)) {
                await page.screenshot({ path: join(shotDir, name.replace(/\.html$/, '.png')), fullPage: true });
            }
            await page.close();
            const verdict = problems.length === before ? 'ok  ' : 'FAIL';
            console.log(`  ${verdict} ${name}: "${found.h1}", ${found.images.length} images, ` +
                `${found.rust.length} Rust blocks`);
        }

        await checkSearch(context, origin);
        await context.close();

        // Each theme, with the first diagram in view, for a person to judge.
        for (const theme of THEMES) {
            const themed = await newContext(browser, origin, theme);
            const name = `${THEME_PAGE} in ${theme}`;
            const page = await open(themed, `${origin}/${THEME_PAGE}`, name);
            const html = await page.evaluate(() => document.documentElement.className);
            if (!html.split(/\s+/).includes(theme)) problem(name, `theme not applied (html class "${html}")`);
            await page.locator('main img').first().scrollIntoViewIfNeeded().catch(() => {});
            await page.screenshot({ path: join(shotDir, 'themes', `${theme}.png`) });
            await themed.close();
        }
        console.log(`  screenshots in ${shotDir}`);
    } finally {
        await browser.close();
        server.close();
    }

    if (problems.length > 0) {
        console.error(`\nbrowser-test: ${problems.length} problem(s):`);
        for (const p of problems) console.error(`  ${p}`);
        process.exit(1);
    }
    console.log('browser-test: every chapter passed');
}

await main();
