import { abbreviateIds, KIND_MEANING, STATUS_LABEL, serverOnly, stepTitle } from "./render-text.js";
import type { Plan } from "./types.js";

/**
 * The plan as Markdown for runbooks and tickets: a title, the summary table,
 * and a checklist with one `- [ ]` item per step whose commands sit in fenced
 * code blocks. Carries the same content as the text form.
 */
export function renderPlanMarkdown(plan: Plan): string {
  const out: string[] = [
    `# Upgrade to ${plan.target}`,
    "",
    `**${plan.kind}**: ${KIND_MEANING[plan.kind]}.`,
    "",
    "| Component | Count | Current | Planned | Target | Status |",
    "| --- | ---: | --- | --- | --- | --- |",
    ...plan.summary.map(
      (g) =>
        `| ${cell(g.kind)} | ${g.count} | ${cell(g.version)} | ${cell(g.planned)} | ${cell(g.target)} | ${STATUS_LABEL[g.status]} |`,
    ),
  ];
  if (plan.kind === "up-to-date") out.push("", "Nothing to do.");
  if (plan.steps.length > 0) out.push("", "## Steps");
  plan.steps.forEach((step, i) => {
    // Paragraphs of a list item: blank lines between them, indented under the "- ".
    const paragraphs: string[][] = [[step.reason]];
    if (!serverOnly(step)) paragraphs.push([`Components: ${abbreviateIds(step.components, code)}`]);
    for (const w of step.warnings) paragraphs.push([`> **Warning:** ${w}`]);
    if (step.commands.length > 0) {
      const f = fence(step.commands);
      paragraphs.push([`${f}sh`, ...step.commands, f]);
    }
    out.push("", `- [ ] **${stepTitle(step, i)}**`);
    for (const p of paragraphs) out.push("", ...p.map((line) => `  ${line}`));
  });
  if (plan.blockers.length > 0) {
    out.push("", "## Blockers", "");
    for (const b of plan.blockers) out.push(`- ${abbreviateIds(b.components, code)}: ${b.reason}`);
  }
  if (plan.warnings.length > 0) {
    out.push("", "## Warnings", "");
    for (const w of plan.warnings) out.push(`- ${w}`);
  }
  return out.join("\n");
}

/** Inline code that survives backticks in the text. */
function code(text: string): string {
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
}

/** A table cell: a pipe would end it. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** A fence longer than any backtick run in the commands. */
function fence(commands: readonly string[]): string {
  const longest = Math.max(
    0,
    ...commands.map((c) => Math.max(0, ...(c.match(/`+/g) ?? []).map((m) => m.length))),
  );
  return "`".repeat(Math.max(3, longest + 1));
}
