// Starts GraphiQL on the explorer page (page.html) with the globals that the
// server's own copies of React, ReactDOM and GraphiQL (UMD builds) define.
//
// A link can fill the editors and run the operation on load, in the URL's
// fragment, which browsers never send to the server (a token there stays out
// of access logs):
//
//   /graphql#query=<text>&variables=<json>&headers=<json>&run=1
//
// e.g. headers={"Authorization": "Bearer <token>"}. The fragment is removed
// from the address bar once read. Headers are not persisted between visits
// (shouldPersistHeaders: false), so a link that runs something only ever
// carries the credentials it brought itself.
(function () {
  "use strict";

  // Short lines: the editor is half the window wide.
  var DEFAULT_QUERY = [
    "# Kingdom's GraphQL API, in GraphiQL served by",
    "# this server (no internet needed).",
    "#",
    "# To ask as someone, log in (in a tab of its own):",
    "#   mutation {",
    '#     login(input: {email: "admin@kingdom.local",',
    '#                   password: "..."}) {',
    "#       accessToken",
    "#     }",
    "#   }",
    "# and put the token in Headers, below:",
    '#   {"Authorization": "Bearer <accessToken>"}',
    "#",
    "# Ctrl-Enter runs, Ctrl-Space completes.",
    "",
    "{",
    "  viewer {",
    "    email",
    "  }",
    "}",
    "",
  ].join("\n");

  var link = new URLSearchParams(window.location.hash.slice(1));
  if (window.location.hash) {
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  var props = {
    // The page is served at the API's own path: POST there.
    fetcher: GraphiQL.createFetcher({ url: window.location.pathname }),
    defaultQuery: DEFAULT_QUERY,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: "headers",
  };
  ["query", "variables", "headers"].forEach(function (name) {
    if (link.has(name)) {
      props[name] = link.get(name);
    }
  });

  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, props));

  if (link.get("run") === "1") {
    runWhenReady(Date.now() + 15000);
  }

  // GraphiQL runs the query editor's operation with the headers editor's
  // headers when its run button is pressed; both editors mount a moment
  // after the first render, and the button does nothing before.
  function runWhenReady(deadline) {
    var button = document.querySelector(".graphiql-execute-button");
    var editors = document.querySelectorAll(".graphiql-editor .CodeMirror").length;
    if (button && editors >= 3) {
      button.click();
    } else if (Date.now() < deadline) {
      window.setTimeout(runWhenReady, 50, deadline);
    }
  }
})();
