#!/usr/bin/env bash
# Runs `mdbook test`: rustdoc compiles (and, unless `no_run`, runs) every Rust
# block of every chapter, includes expanded.
#
# rustdoc knows nothing of Cargo. A block reaches `listings` or `socket2`
# only through a hidden `# extern crate listings;` line and a `-L` directory
# holding the compiled crates. That directory must hold exactly one build of
# each: target/debug/deps collects every build ever made there (other
# features, old versions, clippy's .rmeta files), and rustdoc then stops with
# "multiple candidates for `rlib` dependency `listings` found". So this script
# builds the listings library, takes from Cargo's own report the files that
# build consists of, and links just those into a directory of their own.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v mdbook >/dev/null; then
    echo "mdbook-test.sh: mdbook is not installed;" \
        "run: cargo install --locked mdbook --version 0.5.4" >&2
    exit 1
fi

# Wherever Cargo puts its builds (CARGO_TARGET_DIR or ./target).
target_dir="$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
if [[ -z "$target_dir" ]]; then
    echo "mdbook-test.sh: cannot find Cargo's target directory" >&2
    exit 1
fi
deps="$target_dir/mdbook-test-deps"

# Diagnostics still go to the terminal; stdout is one JSON message per line,
# and each "compiler-artifact" one lists the files a crate was built into.
artifacts="$(cargo build -p listings --lib \
    --message-format=json-render-diagnostics)"

rm -rf "$deps"
mkdir -p "$deps"
count=0
while IFS= read -r file; do
    # A hard link is instant; a copy still works across file systems.
    ln -f "$file" "$deps/" 2>/dev/null || cp -f "$file" "$deps/"
    count=$((count + 1))
done < <(printf '%s\n' "$artifacts" |
    grep '"reason":"compiler-artifact"' |
    grep -o '"filenames":\[[^]]*\]' |
    grep -o '"[^"]*\.\(rlib\|so\|dylib\|dll\)"' |
    tr -d '"')

if ! compgen -G "$deps/liblistings*.rlib" >/dev/null; then
    echo "mdbook-test.sh: the build reported no listings library" >&2
    exit 1
fi
echo "mdbook-test.sh: $count crate files in $deps"

mdbook test -L "$deps"
echo "mdbook-test.sh: mdbook test passed"
