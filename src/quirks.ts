/**
 * `dist/quirks.js`: loads node-wot quietly for code that builds its own servient without importing
 * the package's entry point first (bench/http-server.js does). The work-around itself lives in the
 * node-wot adapter (src/node-wot/load-quietly.ts).
 */
import "./node-wot/load-quietly";
