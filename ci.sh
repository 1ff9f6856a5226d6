#!/usr/bin/env bash
# Every check the book has, from a fresh clone on a fresh machine: installs
# what is missing (python3, iproute2, node, npm, chromium and poppler-utils
# through apt-get, a pinned mdbook through cargo), then runs the lints, the
# tests, the build, a browser test of the built book, mdbook's own test of
# the book, the PDF of the book and its check, and a link check.
set -euo pipefail
cd "$(dirname "$0")"

MDBOOK_VERSION=0.5.4

step() { printf '\n==> %s\n' "$*"; }

if ! command -v python3 >/dev/null; then
    step "installing python3 (the tests' independent peer is written in Python)"
    apt-get update -qq && apt-get install -y -qq python3
fi

if [ ! -x /usr/bin/ss ]; then
    step "installing iproute2 (tests read socket queues with /usr/bin/ss)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    step "installing node and npm (the browser test and link check run on node)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

if [ "$(mdbook --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]; then
    step "installing mdbook $MDBOOK_VERSION"
    cargo install --locked mdbook --version "$MDBOOK_VERSION"
fi

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    step "adding rustfmt and clippy to the toolchain"
    rustup component add rustfmt clippy
fi

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked

step "include expansion: tests/support/include.rs against mdbook's own, chapter by chapter"
cargo test --locked --test include_matches_mdbook -- --ignored

step "mdbook build (warnings fail it)"
mdbook build 2>&1 | tee target/mdbook-build.log
if grep -E '(WARN|ERROR)' target/mdbook-build.log; then
    echo "mdbook build printed warnings" >&2
    exit 1
fi

# The browser test drives Debian's chromium, or the Chromium or Chrome that
# CHROMIUM names (the GitHub workflow points it at the runner's Chrome).
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
    step "installing chromium (the browser test's browser)"
    if [ "$(id -u)" -ne 0 ]; then
        echo "ci.sh: /usr/bin/chromium is missing; as root: apt-get install chromium" >&2
        exit 1
    fi
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

step "npm ci (playwright-core for the browser test; it downloads no browser)"
npm ci --prefix tests/browser --no-audit --no-fund

step "browser test: every chapter in headless Chromium, screenshots in target/browser/"
node tests/browser/browser-test.mjs book target/browser

step "mdbook test"
bash tests/mdbook-test.sh

# The PDF: the print page printed by the same Chromium, then read back.
if ! command -v pdftotext >/dev/null; then
    step "installing poppler-utils (pdftotext reads the PDF back)"
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils
    elif sudo -n true 2>/dev/null; then
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils
    else
        echo "ci.sh: pdftotext is missing; as root: apt-get install poppler-utils" >&2
        exit 1
    fi
fi

step "PDF: book/tcp-book.pdf from book/print.html in headless Chromium"
node tests/pdf/build-pdf.mjs book book/tcp-book.pdf

step "PDF check: every title, every chapter on a page of its own, every listing's first line"
python3 tests/pdf/check-pdf.py book/tcp-book.pdf

# After the PDF, which the introduction links to.
step "link check of the built book (offline: relative links and #fragments)"
node tests/browser/link-check.mjs book

echo
echo "All checks passed."
