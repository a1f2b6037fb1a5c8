/* oponn-graphiql.js — mounts GraphiQL on oponn's page (etc/graphiql/index.html).
 *
 * A separate file rather than an inline script: nginx sends
 * "script-src 'self'", so only files served by oponn itself can run.
 *
 * The write token is never part of the page: the header editor starts empty
 * and its contents are not persisted to localStorage (shouldPersistHeaders
 * false), so a token a user types lives only in that tab. The example query
 * says where to put it.
 */
(function () {
  'use strict';

  var EXAMPLE_QUERY = [
    '# Welcome to oponn. Run this query with the',
    '# \u25B6 button or Ctrl-Enter: three bookstores,',
    '# two books each.',
    '#',
    '# Mutations need the write token printed by',
    '# `make run`: open Headers below and enter',
    '#   {"Authorization": "Bearer <token>"}',
    '# (kept in this tab only, never stored).',
    '',
    '{',
    '  bookstores(first: 3) {',
    '    edges {',
    '      node {',
    '        name',
    '        city',
    '        books(first: 2) {',
    '          edges {',
    '            node {',
    '              title',
    '              authors',
    '            }',
    '          }',
    '        }',
    '      }',
    '    }',
    '  }',
    '}',
    ''
  ].join('\n');

  // A link such as /graphql?query={...}&variables={...} opens with that
  // operation in the editor (GraphQL-over-HTTP GET parameters, so the same
  // URL run by curl gives the JSON answer). Headers never come from the URL.
  var params = new URLSearchParams(window.location.search);

  var fetcher = GraphiQL.createFetcher({
    url: window.location.origin + '/graphql'
  });

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: EXAMPLE_QUERY,
      query: params.get('query') || undefined,
      variables: params.get('variables') || undefined,
      operationName: params.get('operationName') || undefined,
      defaultHeaders: '',
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true
    })
  );
})();
