// Introspection round trip: reads {"sdl": path, "introspection": <our
// response to getIntrospectionQuery()>} on stdin and checks that
//   printSchema(buildClientSchema(ours)) === printSchema(buildSchema(sdl))
// and that our response equals graphql-js's own answer to the same query.
// Prints "ok" or what differs; exit status 0/1.
'use strict';
const fs = require('fs');
const g = require('graphql');
const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const sdl = fs.readFileSync(input.sdl, 'utf8');
const ref = g.buildSchema(sdl);
const ours = input.introspection;
let failed = false;
if (ours.errors) {
  console.log('errors in our response: ' + JSON.stringify(ours.errors));
  process.exit(1);
}
const a = g.printSchema(g.buildClientSchema(ours.data));
const b = g.printSchema(ref);
if (a !== b) {
  failed = true;
  const al = a.split('\n'), bl = b.split('\n');
  for (let i = 0; i < Math.max(al.length, bl.length); i++)
    if (al[i] !== bl[i]) { console.log(`printSchema differs at line ${i + 1}:\n  ours: ${al[i]}\n  ref:  ${bl[i]}`); break; }
}
const want = JSON.parse(JSON.stringify(g.graphqlSync({ schema: ref, source: fs.readFileSync(input.query, 'utf8') })));
if (JSON.stringify(want) !== JSON.stringify(ours)) {
  failed = true;
  console.log('introspection JSON differs from graphql-js');
}
console.log(failed ? 'FAIL' : 'ok');
process.exit(failed ? 1 : 0);
