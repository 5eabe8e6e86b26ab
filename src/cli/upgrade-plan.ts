import { closeSync, fchmodSync, openSync, writeSync } from "node:fs";
import semver from "semver";
import { planUpgrade } from "../planner/plan.js";
import { planJson } from "../planner/render-json.js";
import { renderPlanMarkdown } from "../planner/render-markdown.js";
import { renderPlanText, stepTitle } from "../planner/render-text.js";
import { type SimulationResult, simulate } from "../planner/simulate.js";
import type { Plan } from "../planner/types.js";
import { newestRelease } from "../protocol/catalog.js";
import { AppError } from "../protocol/errors.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import {
  PLANNING_FLAGS,
  planningCatalog,
  planningInventory,
  planningTarget,
  SHIPPED_CATALOG,
} from "./plan-input.js";

const FORMATS = ["text", "markdown", "json"] as const;
type Format = (typeof FORMATS)[number];

export const upgradePlan: Command = {
  name: "upgrade plan",
  summary: "Plan the upgrade of the server and every component to a release, step by step",
  help:
    "Reads the live server's inventory of active components (or -inventory=FILE, as written by\n" +
    "`waypoint versions -json`; no server needed) and the release catalog, and prints the steps that take\n" +
    "the fleet to the target so that every online component stays compatible after every step: a table of\n" +
    "each group's current, planned and target version, then numbered steps with the reason and the commands.\n" +
    "-format=json prints the plan in the documented JSON shape; -check replays the plan against the catalog.\n" +
    "\n" +
    "Exit codes: 0 a plan (or nothing to do); 1 no safe plan exists (the blockers are printed), -check found\n" +
    "an unsafe state, the target is older than the server, or the catalog or inventory is invalid; 2 bad\n" +
    "flags, a target the catalog does not list, or a catalog whose newest release is older than the server.",
  flags: [
    {
      name: "to",
      type: "string",
      usage: "target release (default: the catalog's newest)",
      placeholder: "VERSION",
    },
    {
      name: "inventory",
      type: "string",
      usage: "plan from this inventory file (`waypoint versions -json`; - for stdin) instead of the server",
      placeholder: "FILE",
    },
    {
      name: "format",
      type: "string",
      usage: "text, markdown or json",
      default: "text",
      placeholder: "FORMAT",
    },
    { name: "check", type: "boolean", usage: "replay the plan and confirm every state is compatible" },
    {
      name: "out",
      type: "string",
      usage: "write the plan to this file (mode 0644) instead of stdout",
      placeholder: "FILE",
    },
    { name: "force", type: "boolean", usage: "with -out, replace an existing file" },
    ...PLANNING_FLAGS,
  ],
  async run(flags, io) {
    const format = flags.string("format") ?? "text";
    if (!(FORMATS as readonly string[]).includes(format)) {
      throw new AppError("USAGE", `-format=${format}: want text, markdown or json`);
    }
    const out = flags.string("out");
    if (flags.bool("force") && !out) throw new AppError("USAGE", "-force only applies with -out=FILE");
    const { catalog, path } = planningCatalog(flags, io);
    const target = planningTarget("to", flags.string("to"), catalog, path);
    const inventory = await planningInventory(flags.string("inventory"), flags, io);
    const newest = newestRelease(catalog).version;
    if (target === undefined && semver.gt(inventory.server.version, newest)) {
      // Not a downgrade the user asked for: most likely the wrong (or the default) catalog.
      throw new AppError(
        "INVALID_ARGUMENT",
        `the server runs ${inventory.server.version}, newer than every release in the catalog ${path} (newest: ${newest})`,
        { hint: "Pass -catalog=FILE with the catalog of the product the server runs." },
      );
    }
    const plan = planUpgrade(inventory, catalog, {
      ...(target === undefined ? {} : { target }),
      ...(path === SHIPPED_CATALOG ? {} : { catalogFile: path }),
    });

    const rendered = render(plan, format as Format);
    if (out) {
      writeNewFile(out, `${rendered}\n`, flags.bool("force"));
      writeLine(io.stderr, `Wrote the plan to ${out}.`);
    } else {
      writeLine(io.stdout, rendered);
    }

    if (plan.kind === "impossible") {
      writeLine(
        io.stderr,
        `No safe upgrade plan to ${plan.target} exists: ${plan.blockers.length} blocker(s), listed with the plan.`,
      );
      return 1;
    }
    if (!flags.bool("check")) return 0;
    const check = checkReport(plan, simulate(plan, inventory, catalog));
    for (const line of check.lines) writeLine(io.stderr, line);
    return check.ok ? 0 : 1;
  },
};

function render(plan: Plan, format: Format): string {
  switch (format) {
    case "text":
      return renderPlanText(plan);
    case "markdown":
      return renderPlanMarkdown(plan);
    case "json":
      return JSON.stringify(planJson(plan), null, 2);
  }
}

/** What `-check` prints (to stderr) for a simulation of `plan`, and whether it passed. */
export function checkReport(plan: Plan, result: SimulationResult): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  if (result.ok) {
    lines.push(`checked: ${result.states} states, every online component compatible after every step`);
  } else {
    const step = plan.steps[result.step];
    const what = step ? ` (${stepTitle(step, result.step).replace(/^\d+\. /, "")})` : "";
    const where = `after step ${result.step + 1}${what}`;
    lines.push(`unsafe ${where}: ${result.component}: ${result.reason}`);
  }
  if (result.alreadyBroken.length > 0) {
    lines.push(
      `note: ${result.alreadyBroken.length} component(s) were incompatible before the plan and are checked only once they move: ${result.alreadyBroken.join(", ")}`,
    );
  }
  return { ok: result.ok, lines };
}

/** Writes `text` to a new file, mode 0644 whatever the umask; an existing file is replaced only with `force`. */
export function writeNewFile(file: string, text: string, force: boolean): void {
  let fd: number;
  try {
    fd = openSync(file, force ? "w" : "wx", 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") {
      throw new AppError("ALREADY_EXISTS", `${file} already exists`, {
        hint: "Pass -force to replace it, or pick another -out file.",
      });
    }
    throw new AppError("INVALID_ARGUMENT", `cannot write ${file}: ${code ?? String(err)}`, {
      hint: "Check that the directory exists and is writable.",
    });
  }
  try {
    fchmodSync(fd, 0o644);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}
