// Inside this repository, `@veil/*` packages resolve to their TypeScript sources (the `veil-source` export
// condition), so tests, the demo and the CLI launcher run the code as it is, without a build. Installed packages
// (npm pack / npm install @veil/sdk) resolve to their built `dist/` instead.
import { register } from "node:module";

register(
  "data:text/javascript," +
    encodeURIComponent(
      "export async function resolve(specifier, context, next) {" +
        " return specifier.startsWith('@veil/') ? next(specifier, { ...context, conditions: [...context.conditions, 'veil-source'] }) : next(specifier, context); }",
    ),
);
