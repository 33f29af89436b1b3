// The dashboard: a Thing Description client for node-wot-vo. Boots, routes (#/ and #/thing/…),
// keeps the login, and exposes its state as `window.__dashboard` (tests and the curious read it).
import { credentials, setCredentials, request, readProperty, invokeAction, signedIn } from "./td-client.js";
import { h } from "./format.js";
import { loadModules, registry } from "./extensions.js";
import registerServices from "./services.js";
import { overviewPage } from "./overview.js";
import { thingPage } from "./thing.js";

const state = (window.__dashboard = {
  ready: false,
  view: undefined,
  unauthorized: false,
  errors: [],
  config: undefined,
});

const main = document.getElementById("main");
const banner = document.getElementById("banner");
const crumbs = document.getElementById("crumbs");
const loginButton = document.getElementById("login-button");
const loginDialog = document.getElementById("login");
const loginForm = document.getElementById("login-form");
const live = document.getElementById("live");

let current;

const ctx = {
  state,
  request,
  readProperty,
  invokeAction,
  signedIn,
  h,
  thingsUrl: () => new URL(state.config?.thingsUrl ?? "/", location.href).href,
  /** Called by pages when a read was refused for lack of credentials. */
  unauthorized() {
    if (!state.unauthorized) {
      state.unauthorized = true;
      showBanner(
        h(
          "span",
          {},
          "This VO needs credentials to show its data. ",
          h("button", { type: "button", class: "link", onclick: openLogin }, "Sign in"),
        ),
        "warn",
      );
    }
  },
  error(message) {
    state.errors.push(message);
    if (state.errors.length > 50) state.errors.shift();
    showBanner(message, "error");
  },
  clearError() {
    if (!state.unauthorized) hideBanner();
  },
  setLive(on) {
    live.hidden = !on;
  },
  setCrumbs(...parts) {
    crumbs.replaceChildren(...parts.flatMap((p, i) => (i ? [h("span", { class: "sep" }, "/"), p] : [p])));
  },
};

function showBanner(content, kind) {
  banner.className = kind;
  banner.replaceChildren(content);
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
  banner.replaceChildren();
}

function updateLoginButton() {
  loginButton.textContent = signedIn()
    ? `Sign out${credentials()?.username ? ` (${credentials().username})` : ""}`
    : "Sign in";
}

function openLogin() {
  loginForm.reset();
  if (typeof loginDialog.showModal === "function") loginDialog.showModal();
  else loginDialog.setAttribute("open", "");
}

loginButton.addEventListener("click", () => {
  if (signedIn()) {
    setCredentials(undefined);
    updateLoginButton();
    route();
  } else openLogin();
});
document.getElementById("login-cancel").addEventListener("click", () => loginDialog.close());
loginForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const data = new FormData(loginForm);
  const username = String(data.get("username") ?? "").trim();
  const password = String(data.get("password") ?? "");
  const token = String(data.get("token") ?? "").trim();
  setCredentials(token ? { token } : username ? { username, password } : undefined);
  loginDialog.close();
  updateLoginButton();
  route();
});

/** Parses `#/thing/<name>?range=1d` into { path: ["thing", name], params }. */
function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = (q < 0 ? raw : raw.slice(0, q)).split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  return { path, params };
}

async function route() {
  current?.stop();
  current = undefined;
  state.unauthorized = false;
  hideBanner();
  ctx.setLive(false);
  const { path, params } = parseHash();
  main.replaceChildren();
  window.scrollTo(0, 0);
  if (path[0] === "thing" && path[1]) {
    state.view = "thing";
    current = thingPage(main, ctx, path[1], params);
  } else {
    state.view = "overview";
    current = overviewPage(main, ctx);
  }
}

async function boot() {
  try {
    state.config = await request(new URL("config.json", location.href).href);
  } catch (err) {
    state.config = { thingsUrl: "/", modules: [] };
    ctx.error(`could not read the dashboard's config.json: ${err.message}`);
  }
  registerServices(registry); // the Services panel (shown only when a ServiceManager Thing is listed)
  await loadModules(state.config.modules, (m) => ctx.error(m));
  updateLoginButton();
  window.addEventListener("hashchange", route);
  state.ready = true;
  route();
}

boot();
