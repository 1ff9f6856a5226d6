// Prints the built book's one-page edition, print.html, to a PDF with
// headless Chromium, as a reader's "Save as PDF" would, with a title page
// and a table of contents in front.
//
//     node tests/pdf/build-pdf.mjs BOOK_DIR OUT_PDF
//
// BOOK_DIR is what `mdbook build` wrote (book/); OUT_PDF is usually
// book/tcp-book.pdf, so the PDF is published with the site. The page is
// served on 127.0.0.1 (a port the kernel picks) and printed by Debian's
// /usr/bin/chromium (or $CHROMIUM) through playwright-core, the browser
// test's one npm package (`npm ci --prefix tests/browser`), which downloads
// no browser of its own. Folded <details> (the exercises' solutions) are
// printed open.
//
// The print page's own scripts run first, as in a reader's browser:
// highlight.js colours the code and mdBook hides the lines of Rust blocks
// that start with `# `. The page then calls window.print() to open the
// print dialog; here that call is replaced by a flag, so nothing waits on a
// dialog that a headless browser does not have, and the flag tells us the
// page has finished loading. The look on paper is the print stylesheet's,
// theme/print-extra.css, which book.toml adds to every page; it changes
// nothing on screen.
//
// It fails (exit 1), writing no PDF, if the page does not get that far, if
// a Rust block was not highlighted, an image did not load, or the table of
// contents does not match the chapters on the page.

import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, serve } from '../browser/chromium.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
// One npm install serves both: playwright-core lives in tests/browser.
const { chromium } = createRequire(join(repo, 'tests', 'browser', 'package.json'))('playwright-core');

const bookDir = resolve(process.argv[2] ?? join(repo, 'book'));
const outPdf = resolve(process.argv[3] ?? join(bookDir, 'tcp-book.pdf'));
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

function fail(message) {
    console.error(`build-pdf: ${message}`);
    process.exit(1);
}

/**
 * Runs in the page: puts a title page and a table of contents before the
 * first chapter. The contents are the sidebar's list (SUMMARY.md's titles,
 * parts and numbers), each entry linked to its chapter on this page. mdBook
 * separates chapters on the print page with an empty page-break <div>, so
 * the n-th entry's chapter is the n-th stretch between those <div>s, and its
 * first heading is where the link goes. Returns what went wrong, or null.
 */
function addFrontMatter() {
    const main = document.querySelector('#mdbook-content main');
    const sidebar = document.querySelector('#mdbook-sidebar ol.chapter');
    if (!main || !sidebar) return 'no <main> or no sidebar list on the print page';

    const starts = [main.firstElementChild];
    for (const div of main.querySelectorAll(':scope > div[style*="break-before"]')) {
        starts.push(div.nextElementSibling);
    }
    const anchors = starts.map((element) => {
        for (let at = element; at && !at.matches('div[style*="break-before"]'); at = at.nextElementSibling) {
            const heading = at.matches('h1, h2, h3') ? at : null;
            if (heading?.id) return heading.id;
        }
        return null;
    });

    const contents = document.createElement('nav');
    contents.className = 'pdf-contents';
    contents.innerHTML = '<h1 class="pdf-contents-title">Contents</h1>';
    const list = document.createElement('ol');
    let chapter = 0;
    for (const item of sidebar.children) {
        if (item.classList.contains('part-title')) {
            const part = document.createElement('li');
            part.className = 'pdf-part';
            part.textContent = item.textContent.trim();
            list.append(part);
            continue;
        }
        const link = item.querySelector(':scope > .chapter-link-wrapper > a, :scope > a');
        if (!link) continue; // the spacer mdBook puts before each part
        const anchor = anchors[chapter++];
        if (!anchor) return `chapter ${chapter} ("${link.textContent.trim()}") has no heading on the print page`;
        const entry = document.createElement('li');
        const a = document.createElement('a');
        a.href = `#${anchor}`;
        const number = link.querySelector('strong');
        if (number) {
            const span = document.createElement('span');
            span.className = 'pdf-number';
            span.textContent = number.textContent.trim();
            a.append(span, ' ');
        }
        a.append(Array.from(link.childNodes)
            .filter((node) => node !== number)
            .map((node) => node.textContent)
            .join('')
            .trim());
        entry.append(a);
        list.append(entry);
    }
    if (chapter !== starts.length) {
        return `the sidebar lists ${chapter} chapters, the print page has ${starts.length}`;
    }
    contents.append(list);

    const title = document.createElement('section');
    title.className = 'pdf-title-page';
    const h = document.createElement('p');
    h.className = 'pdf-book-title';
    h.textContent = document.querySelector('.menu-title')?.textContent.trim() ?? document.title;
    const description = document.createElement('p');
    description.className = 'pdf-book-description';
    description.textContent = document.querySelector('meta[name="description"]')?.content ?? '';
    title.append(h, description);

    main.prepend(title, contents);
    return null;
}

async function main() {
    if (!existsSync(join(bookDir, 'print.html'))) {
        fail(`${bookDir}/print.html is missing; run \`mdbook build\` first ([output.html.print] enabled)`);
    }
    if (!existsSync(chromiumPath)) {
        fail(`no Chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM to its path)`);
    }
    const started = Date.now();
    const server = await serve(bookDir);
    const origin = `http://127.0.0.1:${server.address().port}`;
    const browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        const errors = [];
        page.on('pageerror', (error) => errors.push(`uncaught exception: ${error.message}`));
        page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
        page.on('response', (response) => {
            if (response.status() >= 400) errors.push(`HTTP ${response.status()} for ${response.url()}`);
        });
        // Light theme whatever the defaults say, and no print dialog.
        await page.addInitScript(() => {
            try { localStorage.setItem('mdbook-theme', 'light'); } catch { /* no storage */ }
            window.__printCalled = false;
            window.print = () => { window.__printCalled = true; };
        });
        await page.goto(`${origin}/print.html`, { waitUntil: 'load' });
        // mdBook's page calls print() 100 ms after `load`: by then its scripts are done.
        await page.waitForFunction(() => window.__printCalled, null, { timeout: 30_000 })
            .catch(() => fail('print.html never called window.print(): did its scripts fail?'));
        await page.evaluate(() => document.fonts.ready);
        await page.waitForFunction(() => Array.from(document.images).every((img) => img.complete), null,
            { timeout: 10_000 }).catch(() => {});

        const state = await page.evaluate(() => ({
            unhighlighted: Array.from(document.querySelectorAll('main code.language-rust'))
                .filter((code) => !code.querySelector('[class^="hljs-"], [class*=" hljs-"]'))
                .map((code) => code.textContent.trim().split('\n')[0].slice(0, 60)),
            broken: Array.from(document.querySelectorAll('main img'))
                .filter((img) => !img.complete || img.naturalWidth === 0)
                .map((img) => img.getAttribute('src')),
            chapters: document.querySelectorAll('main > div[style*="break-before"]').length + 1,
        }));
        for (const start of state.unhighlighted) errors.push(`Rust block not highlighted: "${start}"`);
        for (const src of state.broken) errors.push(`image did not load: ${src}`);
        // Folded parts (the exercises' solutions, in <details>) are printed
        // unfolded: paper cannot be clicked open.
        await page.evaluate(() => {
            for (const details of document.querySelectorAll('main details')) details.open = true;
        });
        // A link to a file beside the book (the PDF itself, from the
        // introduction) would point at this temporary server from inside
        // the PDF: it stays as text. Chapter links are #fragments on the
        // print page, and work in the PDF.
        await page.evaluate(() => {
            for (const a of document.querySelectorAll('main a[href]')) {
                const href = a.getAttribute('href');
                if (!href.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(href)) a.removeAttribute('href');
            }
        });
        const wrong = await page.evaluate(addFrontMatter);
        if (wrong) errors.push(wrong);
        if (errors.length > 0) fail(`print.html is not fit to print:\n  ${errors.join('\n  ')}`);

        // A4 with page numbers at the foot; margins live here rather than in
        // the stylesheet's @page because the footer is drawn inside them.
        const pdf = await page.pdf({
            format: 'A4',
            printBackground: true,
            margin: { top: '16mm', bottom: '18mm', left: '15mm', right: '15mm' },
            displayHeaderFooter: true,
            headerTemplate: '<span></span>',
            footerTemplate: '<div style="width:100%;text-align:center;font-size:8pt;' +
                'font-family:sans-serif;color:#555"><span class="pageNumber"></span></div>',
            outline: true, // bookmarks from the headings
            tagged: true,
        });
        mkdirSync(dirname(outPdf), { recursive: true });
        writeFileSync(outPdf, pdf);
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        console.log(`build-pdf: ${outPdf}: ${state.chapters} chapters, ` +
            `${Math.round(pdf.length / 1024)} KiB, ${browser.version()}, ${seconds} s`);
    } finally {
        await browser.close();
        server.close();
    }
}

await main();
