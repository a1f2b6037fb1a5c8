// perf/peers/mercurius/server.js — the load tests' fast peer: what a team
// chasing throughput would pick instead of oponn. Fastify 4 + Mercurius 14
// with graphql-jit (`jit: 1`: a query is compiled to JavaScript after its
// first run) on the schema, data, cache-aside logic and resolvers of
// perf/peers/common.js, the same as the Apollo peer (its header tells what
// they do and the environment they read). GraphQL at
// http://127.0.0.1:PEER_PORT/graphql ; cache keys under "mercurius:".
'use strict';

const common = require('../common.js');

common.run('mercurius', async () => {
  const Fastify = require('fastify');
  const mercurius = require('mercurius');

  const { resolvers, context, counters } = await common.backend('mercurius');
  const app = Fastify({ logger: false });
  app.register(mercurius, {
    schema: common.schemaText(),
    resolvers,
    jit: 1,
    path: '/graphql',
    graphiql: false,
    context: (request) => context(request.headers.authorization),
  });
  const port = parseInt(process.env.PEER_PORT || '4000', 10);
  await app.listen({ port, host: '127.0.0.1' });
  common.publish('mercurius', counters, port);
});
