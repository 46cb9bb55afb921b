// Compiles src/*.sol with solc-js (offline, pinned in package.json) and writes each deployed
// contract's ABI and bytecode to artifacts/<Name>.json. `--check` compiles and fails if the
// committed artifacts differ by a single byte.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const DEPLOYED = ["OARNRegistry", "TaskRegistryV2", "COMPToken", "GOVToken", "ValidatorRegistry", "ENSRegistry", "AddrResolver", "NodeInterfaceMock"];
const here = __dirname;
const srcDir = path.join(here, "src");
const outDir = path.join(here, "artifacts");

const sources = {};
for (const f of fs.readdirSync(srcDir).filter((f) => f.endsWith(".sol")).sort()) {
  sources[f] = { content: fs.readFileSync(path.join(srcDir, f), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
function findImports(p) {
  const file = path.join(here, "node_modules", p);
  return fs.existsSync(file) ? { contents: fs.readFileSync(file, "utf8") } : { error: `not found: ${p}` };
}
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);

const artifacts = {};
for (const [file, contracts] of Object.entries(output.contracts)) {
  for (const [name, c] of Object.entries(contracts)) {
    if (!DEPLOYED.includes(name)) continue;
    const artifact = { contractName: name, source: `src/${file}`, compiler: `solc ${solc.version()}`, abi: c.abi, bytecode: "0x" + c.evm.bytecode.object };
    artifacts[name] = JSON.stringify(artifact, null, 2) + "\n";
  }
}
const check = process.argv.includes("--check");
let stale = 0;
for (const name of DEPLOYED) {
  const file = path.join(outDir, `${name}.json`);
  if (!artifacts[name]) { console.error(`${name}: not produced by the compiler`); process.exit(1); }
  if (check) {
    const committed = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
    if (committed !== artifacts[name]) { console.error(`${file} differs from what src/ compiles to; run npm run build`); stale++; }
  } else {
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(file, artifacts[name]);
  }
}
if (stale) process.exit(1);
console.log(check ? `artifacts reproduced byte for byte (${DEPLOYED.length} contracts)` : `wrote ${DEPLOYED.length} artifacts to ${outDir}`);
