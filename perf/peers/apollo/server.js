// perf/peers/apollo/server.js — the load tests' common peer: what most teams
// would pick instead of oponn. Apollo Server 4 (startStandaloneServer) on the
// schema, data, cache-aside logic and resolvers of perf/peers/common.js
// (its header tells what they do and the environment they read). GraphQL at
// http://127.0.0.1:PEER_PORT/ ; cache keys under "apollo:".
'use strict';

const common = require('../common.js');

common.run('apollo', async () => {
  const { ApolloServer } = require('@apollo/server');
  const { startStandaloneServer } = require('@apollo/server/standalone');

  const { resolvers, context, counters } = await common.backend('apollo');
  const server = new ApolloServer({ typeDefs: common.schemaText(), resolvers });
  const port = parseInt(process.env.PEER_PORT || '4000', 10);
  await startStandaloneServer(server, {
    listen: { port, host: '127.0.0.1' },
    context: async ({ req }) => context(req.headers.authorization),
  });
  common.publish('apollo', counters, port);
});
