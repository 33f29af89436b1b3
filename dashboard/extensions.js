// Extension point: extra sections on the overview and on thing pages, contributed by ES modules
// the server lists in config.json (`mountDashboard(servient, host, { modules: [url, …] })`).
//
// A module default-exports `register(dashboard)` and calls, for example:
//   dashboard.addOverviewSection({ id: "services", title: "Services", render(el, ctx) { … } });
//   dashboard.addThingSection({ id: "…", title: "…", applies: (td) => …, render(el, ctx) { … } });
// An overview section may have `applies: (tds) => boolean` (shown only when it returns true for the
// listed things' TDs); a thing section `applies: (td) => boolean`.
// `render` may return a function; it is called on every refresh tick (live views) with the same ctx.
// ctx: { tds, td, range, request, readProperty, invokeAction, signedIn, h } (see app.js).
// The dashboard's own sections (services.js: the service manager's Services panel) register here too.

const overview = [];
const thing = [];

export const registry = {
  addOverviewSection(section) {
    check(section);
    overview.push(section);
  },
  addThingSection(section) {
    check(section);
    thing.push(section);
  },
};

function check(s) {
  if (!s || typeof s.id !== "string" || typeof s.render !== "function")
    throw new Error("a dashboard section needs an id (string) and a render(element, ctx) function");
}

export function overviewSections() {
  return [...overview];
}

export function thingSections(td) {
  return thing.filter((s) => (typeof s.applies === "function" ? s.applies(td) : true));
}

/** Loads the modules listed in config.json; a module that fails is reported, not fatal. */
export async function loadModules(urls, report) {
  for (const url of urls ?? []) {
    try {
      const mod = await import(new URL(url, location.href).href);
      if (typeof mod.default !== "function") throw new Error("it has no default export register(dashboard)");
      await mod.default(registry);
    } catch (err) {
      report(`dashboard module ${url} failed: ${err.message}`);
    }
  }
}
