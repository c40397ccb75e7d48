// Parse AsyncAPI documents with the official parser and print its diagnostics as JSON.
//
//   node validate.mjs <folder holding node_modules/@asyncapi/parser>  < {"name": document, ...}
//   -> {"parser": "3.6.6", "documents": {"name": [{severity, code, message, path}, ...], ...}}
//
// severity is the parser's (Spectral's): 0 error, 1 warning, 2 information, 3 hint.
import { createRequire } from "node:module";
import path from "node:path";
import { readFileSync } from "node:fs";

const prefix = path.resolve(process.argv[2] ?? ".");
const require = createRequire(path.join(prefix, "package.json"));
const { Parser } = require("@asyncapi/parser");
const { version } = require("@asyncapi/parser/package.json");

const documents = JSON.parse(readFileSync(0, "utf8"));
const parser = new Parser();
const results = {};
for (const [name, document] of Object.entries(documents)) {
  const { diagnostics } = await parser.parse(JSON.stringify(document, null, 2));
  results[name] = diagnostics.map((d) => ({
    severity: d.severity,
    code: String(d.code),
    message: d.message,
    path: d.path.join("/"),
  }));
}
process.stdout.write(JSON.stringify({ parser: version, documents: results }));
