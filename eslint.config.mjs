// Lint TypeScript sources with the type-aware-free recommended sets; tests and scripts are plain JS.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
  { ignores: ["dist/", "data/", "node_modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["src/**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // Loading user scripts and optional modules at run time needs require().
      "@typescript-eslint/no-require-imports": [
        "error",
        { allow: ["^@node-wot/core$", "^typescript$", "package.json$"] },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node, WoT: "readonly" } },
    rules: {
      "@typescript-eslint/no-require-imports": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    // The dashboard: plain ES modules for the browser (uPlot is loaded as a global script).
    files: ["dashboard/**/*.js"],
    languageOptions: { sourceType: "module", globals: { ...globals.browser, uPlot: "readonly" } },
  },
);
