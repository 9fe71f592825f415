#!/usr/bin/env bash
# The library's type declarations (npm run build): tsc writes dist/types/**/*.d.ts from src/index.ts and what it
# imports; their relative imports name .ts files (as the sources do), which a consumer's TypeScript resolves by
# the .js name, so they are renamed.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist/types
npx tsc -p tsconfig.build.json
find dist/types -name '*.d.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)\.ts'#\1.js'#g; s#(import\('\.{1,2}/[^']*)\.ts'\)#\1.js')#g" {} +
