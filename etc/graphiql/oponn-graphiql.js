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

  // GraphiQL's history keeps each run's headers in localStorage even with
  // shouldPersistHeaders false; this storage drops them (token never on disk).
  var storage = {
    getItem: function (k) { return localStorage.getItem(k); },
    removeItem: function (k) { localStorage.removeItem(k); },
    clear: function () { localStorage.clear(); },
    get length() { return localStorage.length; },
    setItem: function (k, v) {
      if (/:(queries|favorites)$/.test(k)) {
        try {
          var parsed = JSON.parse(v);
          (parsed.queries || []).forEach(function (q) { delete q.headers; });
          v = JSON.stringify(parsed);
        } catch (e) { /* not ours to fix: store as given */ }
      }
      localStorage.setItem(k, v);
    }
  };

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
      storage: storage,
      defaultEditorToolsVisibility: 'headers',
      isHeadersEditorEnabled: true
    })
  );
})();
