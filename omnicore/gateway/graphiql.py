"""The GraphiQL page served on ``GET /graphql`` in development."""

GRAPHIQL_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>omnicore GraphiQL</title>
  <link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css">
  <style>body{margin:0;height:100vh}#graphiql{height:100vh}</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL… Send the header
    <code>X-Omnicore-Channel-Token</code> with a channel's public token.</div>
  <script src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
  <script src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
  <script src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
  <script>
    const token = new URLSearchParams(location.search).get("token") || "";
    const fetcher = GraphiQL.createFetcher({
      url: location.pathname,
      headers: token ? {"X-Omnicore-Channel-Token": token} : {},
    });
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, {fetcher, defaultEditorToolsVisibility: true}));
  </script>
</body>
</html>
"""
