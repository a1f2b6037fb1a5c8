// Expected answers of the conformance corpus, from graphql-js (the reference).
//
//   node t/gql/gen.js [OUTDIR]     (default t/gql/expected)
//
// For every t/gql/corpus/*.graphql writes OUTDIR/<name>.json:
//   {"phase": "parse"|"validate"|"execute", "result": {...}}
// with the same resolver rules as t/prog/gql_run.c (see its header): static
// data from t/gql/data.json, {"__error"} fails, {"__arg"} picks a case,
// {"__echo"} returns the arguments, "__typename" names the concrete type.
'use strict';
const fs = require('fs');
const path = require('path');
const g = require('graphql');

const here = __dirname;
const outdir = process.argv[2] || path.join(here, 'expected');
const schema = g.buildSchema(fs.readFileSync(path.join(here, 'schema.graphql'), 'utf8'));
const raw = JSON.parse(fs.readFileSync(path.join(here, 'data.json'), 'utf8'));

// {"__error": msg} anywhere becomes an Error, which graphql-js reports as a
// field error where it is met (field value or list item).
function prepare(v) {
  if (Array.isArray(v)) return v.map(prepare);
  if (v && typeof v === 'object') {
    if (typeof v.__error === 'string') return new Error(v.__error);
    if (typeof v.__arg === 'string') {
      const cases = {};
      for (const [k, c] of Object.entries(v.cases)) cases[k] = prepare(c);
      return { __arg: v.__arg, cases };
    }
    const o = {};
    for (const [k, c] of Object.entries(v)) o[k] = prepare(c);
    return o;
  }
  return v;
}
const root = prepare(raw);

function fieldResolver(source, args, ctx, info) {
  let v = source == null ? undefined : source[info.fieldName];
  if (v && typeof v === 'object' && !(v instanceof Error)) {
    if (typeof v.__arg === 'string') {
      const a = args[v.__arg];
      const key = a === undefined || a === null ? 'null' : String(a);
      v = Object.prototype.hasOwnProperty.call(v.cases, key) ? v.cases[key] : null;
    } else if (v.__echo) {
      return JSON.parse(JSON.stringify(args));
    }
  }
  if (v instanceof Error) throw v;
  return v;
}

function typeResolver(value) {
  return value && value.__typename;
}

function header(src, key) {
  for (const line of src.split('\n')) {
    if (!line.startsWith('#')) break;
    if (line.startsWith('# ' + key)) return line.slice(2 + key.length);
  }
  return undefined;
}

function run(src) {
  let doc;
  try {
    doc = g.parse(src);
  } catch (e) {
    return { phase: 'parse', result: { errors: [e.toJSON()] } };
  }
  const verrs = g.validate(schema, doc);
  if (verrs.length) return { phase: 'validate', result: { errors: verrs.map((e) => e.toJSON()) } };
  const vars = header(src, 'variables: ');
  const result = g.execute({
    schema,
    document: doc,
    rootValue: root,
    variableValues: vars === undefined ? undefined : JSON.parse(vars),
    operationName: header(src, 'operationName: '),
    fieldResolver,
    typeResolver,
  });
  return { phase: 'execute', result: JSON.parse(JSON.stringify(result)) };
}

fs.mkdirSync(outdir, { recursive: true });
const dir = path.join(here, 'corpus');
let n = 0;
for (const f of fs.readdirSync(dir).sort()) {
  if (!f.endsWith('.graphql')) continue;
  const src = fs.readFileSync(path.join(dir, f), 'utf8');
  const out = run(src);
  fs.writeFileSync(path.join(outdir, f.replace(/\.graphql$/, '.json')), JSON.stringify(out, null, 1) + '\n');
  n++;
}
console.error(`gen.js: ${n} expectations from graphql-js ${g.version} in ${outdir}`);
