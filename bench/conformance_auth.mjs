// Loaded into the MCP conformance suite's Node process (node --import) by bench/conformance.py.
// The suite's server scenarios send no Authorization header and have no option to, and every
// request to /mcp needs the merchant's key: this puts AITOPUP_CONFORMANCE_AUTHORIZATION on every
// request the process sends, through undici's global dispatcher, which both the suite's own
// requests (undici's request) and the MCP SDK client's (Node's fetch) go through.
import { createRequire } from "node:module";

const authorization = process.env.AITOPUP_CONFORMANCE_AUTHORIZATION;
const undici = createRequire(process.env.AITOPUP_CONFORMANCE_SUITE)("undici");

function withAuthorization(headers) {
  if (headers == null) return { authorization };
  if (Array.isArray(headers)) return [...headers, "authorization", authorization];
  if (typeof headers[Symbol.iterator] === "function") {
    return [...Array.from(headers).flat(), "authorization", authorization];
  }
  return { ...headers, authorization };
}

undici.setGlobalDispatcher(
  new undici.Agent().compose(
    (dispatch) => (options, handler) =>
      dispatch({ ...options, headers: withAuthorization(options.headers) }, handler),
  ),
);
