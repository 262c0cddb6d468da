"""Generate ``docs/rules.md`` from the rule docstrings: ``python -m compliance.rules.docgen``.

The docstrings are the documentation; this only lays them out (yamllint and bandit
do the same), adds each rule's default severity from the packaged policy and its
options' types and defaults, and turns reST literal blocks (``Fails::``) into fenced
Markdown.  A test fails when the committed file differs from what this prints.
"""

from __future__ import annotations

import inspect
import re
import sys

from compliance.policy import Policy, load_policy
from compliance.rules import RULES, Rule
from compliance.rules.base import option_docs

_PREFIXES = {
    "SCR": "SCR — mandatory script lines (【售后动作标准】 必须执行动作 · 线上)",
    "LNG": "LNG — communication standards (【售后沟通标准】)",
    "SLA": "SLA — time limits (响应速度, 方案时效, 进度追踪)",
}


def _markdown(text: str) -> str:
    """reST bits of a docstring body as Markdown: literal blocks and ``code``."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            out.append("")
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                block.append(lines[i][4:] if lines[i].startswith("    ") else "")
                i += 1
            while block and not block[0].strip():
                block.pop(0)
            while block and not block[-1].strip():
                block.pop()
            out.append("```text")
            out.extend(block)
            out.append("```")
            out.append("")
            continue
        out.append(re.sub(r"``([^`]+)``", r"`\1`", line))
        i += 1
    return "\n".join(out).strip()


def _option_list(prose: str) -> str:
    """``name: what it does`` paragraphs of the Options section as a Markdown list."""
    items: list[str] = []
    for line in prose.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        match = re.match(r"^(\w+):\s*(.*)$", stripped)
        if match and not line.startswith(" "):
            items.append(f"- `{match.group(1)}`: {match.group(2)}")
        elif items:
            items[-1] += " " + stripped
        else:
            items.append(stripped)
    return _markdown("\n".join(items))


def _split_options(body: str) -> tuple[str, str]:
    """The docstring body without its ``Options:`` section, and that section's prose."""
    match = re.search(r"^Options:(.*)\Z", body, flags=re.S | re.M)
    if match is None:
        return body, ""
    return body[: match.start()].rstrip(), match.group(1).strip()


def rule_section(rule: type[Rule], policy: Policy) -> str:
    """The Markdown section of one rule."""
    doc = inspect.cleandoc(rule.__doc__ or "")
    summary, _, body = doc.partition("\n")
    body, options_prose = _split_options(body.strip())
    config = policy.rules[rule.code]
    state = "" if config.enabled else ", disabled"
    parts = [
        f"### {rule.code} {rule.name}",
        "",
        f"**{summary.strip()}**",
        "",
        f"Severity in the default policy: `{config.severity}`{state} "
        f"(`[rules.{rule.code}]` in `compliance/policies/pusai.toml`).",
        "",
        _markdown(body),
        "",
    ]
    rows = option_docs(rule.Options)
    if rows:
        parts += [f"Options (`[rules.{rule.code}]`):", ""]
        parts += ["| option | type | default |", "| --- | --- | --- |"]
        parts += [f"| `{name}` | {kind} | `{default}` |" for name, kind, default in rows]
        parts += ["", _option_list(options_prose), ""]
    else:
        parts += ["Options: none.", ""]
    parts += _detector_docs(rule.code, policy)
    return "\n".join(parts)


def _sample(words: tuple[str, ...], count: int = 6) -> str:
    shown = "、".join(words[:count])
    return f"{shown} …（共 {len(words)} 个）" if len(words) > count else shown


def _detector_docs(code: str, policy: Policy) -> list[str]:
    """The detector layers the policy configures for `code` (`[detectors.NAME]`)."""
    out: list[str] = []
    for name, spec in policy.detectors.items():
        if spec.rule != code:
            continue
        severity = policy.rules[code].severity
        layers = ", ".join(
            f"{layer} → `{spec.layers.get(layer, severity)}`"
            for layer in ("phrase", "operator", "similarity")
        )
        out += [
            f"Detector `[detectors.{name}]` (layers and the severity of their hits: {layers}; "
            f"phrase hits read through the grammar: {'yes' if spec.guard_phrases else 'no'}):",
            "",
        ]
        if spec.exceptions:
            out.append(f"- context exceptions for every layer: {_sample(spec.exceptions)}")
        for op in spec.operators:
            what = [f"- operator `{op.name}` ({op.kind}"]
            if op.kind == "context":
                what.append(f", window {op.window}, order {op.order}, prefilter on {op.anchor}")
            what.append(f", confidence {op.confidence}")
            guards = [
                g
                for g, on in (
                    ("negation", op.negation),
                    ("hypothetical", op.hypothetical),
                    ("reassurance", op.reassurance),
                    ("benefactive", op.benefactive),
                    ("questions", op.skip_questions),
                )
                if on
            ]
            what.append(f"; grammar: {', '.join(guards) or 'none'})")
            line = "".join(what)
            if op.targets:
                line += f"; targets: {_sample(op.targets)}"
            if op.owned_targets:
                line += f"; targets after {_sample(op.owners, 3)}: {_sample(op.owned_targets)}"
            if op.evaluations:
                line += f"; evaluations: {_sample(op.evaluations)}"
            if op.evaluation_lexicons:
                line += (
                    f"; lexicons: {', '.join(f'`{x}`' for x in op.evaluation_lexicons)} "
                    f"(entries up to jieba frequency {op.lexicon_max_frequency})"
                )
            if op.patterns:
                line += f"; {len(op.patterns)} pattern(s)"
            if op.exceptions:
                line += f"; exceptions: {_sample(op.exceptions)}"
            if op.owner_cues:
                line += f"; owners in the sentence: {_sample(op.owner_cues)}"
            if op.object_markers:
                line += f"; a {'/'.join(op.object_markers)} object must hold a target"
            if op.degree_variants:
                line += "; evaluations also with a degree word inside"
            out.append(line)
        sim = spec.similarity
        if sim.exemplars:
            out.append(
                f"- similarity: {len(sim.exemplars)} exemplar(s), hit at {sim.threshold}, "
                f"review (warning) from {sim.review_threshold}; negative exemplars silence "
                f"from {sim.negative_threshold}; prefilter: {_sample(sim.anchors)}"
            )
        out.append("")
    return out


def _grammar_docs(policy: Policy) -> list[str]:
    grammar = policy.detection
    return [
        "## Detector layers",
        "",
        "Each rule that reads text has, besides its phrase list, a layered detector",
        "(`compliance.detection`, configured under `[detectors.NAME]` in the policy and",
        "validated at load: an unknown key is an error naming it).  The checker and the",
        "bot's pre-send check run the same detectors.  Layers:",
        "",
        "- **phrase**: the policy's phrase lists with their innocent containing words",
        "  (confidence 1);",
        "- **operator**: keyword, regex and context operators (a *target* within a window",
        "  of an *evaluation*, as QA products such as Aliyun 智能对话分析 let their users",
        "  configure them); a context hit's confidence falls with the distance;",
        "- **similarity**: TF-IDF cosine over jieba words (weighted by jieba's dictionary",
        "  frequencies) to the rule's exemplar sentences and to the exemplars QA's marks",
        "  added; a text much like a negative exemplar (a false alarm QA marked) has no",
        "  hit of any layer.",
        "",
        "Every finding says which layer caught it and how sure it is (`layer`, `confidence`",
        "in the JSON report); the policy sets the severity of each layer's hits.  Operators",
        "and similarity only run on texts holding one of the detector's anchors (the",
        "prefilter, folded into the checker's one automaton pass per session).",
        "",
        "All operators read their hits through one grammar (`[detection]`):",
        "",
        f"- negations before an evaluation (within {grammar.negation_scope} characters, one-"
        f"character ones within 3): {_sample(grammar.negations, 12)}; after it: "
        f"{_sample(grammar.negations_after, 6)}; a consequence or contrast ends their reach: "
        f"{_sample(grammar.scope_breaks)}; A-not-A questions (是不是) are no negation;",
        f"- modal negations governing their whole clause: {_sample(grammar.clause_negations)};"
        f" rhetorical questions deny nothing: after {_sample(grammar.rhetorical_openers)}, or "
        f"{_sample(grammar.rhetorical_negations)} … {_sample(grammar.rhetorical_ends)};",
        f"- degree words taken inside evaluations (不太稳定, 返修率挺高): "
        f"{_sample(grammar.degree_words)};",
        "- an operator's exception does not count when it is part of a longer evaluation",
        "  (不好意思推荐), negated (换新是不可能的) or undone by a later contrast (说要改进，",
        "  结果…); Latin exceptions count as whole words only (ip is not in VIP);",
        f"- hypotheticals (for operators that ask): {_sample(grammar.hypotheticals)};",
        f"- reassurances: {_sample(grammar.reassurances)};",
        f"- benefactives (an action done for or by the customer): {_sample(grammar.benefactives)}.",
        "",
    ]


def generate(policy: Policy | None = None) -> str:
    """The whole of ``docs/rules.md``."""
    policy = policy or load_policy()
    lines = [
        "# Compliance rules",
        "",
        "<!-- Generated by `python -m compliance.rules.docgen > docs/rules.md` from the rule",
        "     docstrings in compliance/rules/; do not edit by hand. -->",
        "",
        "Every rule of SPEC §6, with the seed clause it enforces, a failing and a passing",
        "transcript snippet, and its options.  Codes are stable; `--select` / `--ignore`",
        "take a code or a prefix (`LNG`).  Severities are those of the default policy",
        "(朴赛, seed 000); a policy file may change them, switch a rule off",
        "(`enabled = false`) or set its options under `[rules.CODE]`.",
        "",
        "| code | name | severity | what it checks |",
        "| --- | --- | --- | --- |",
    ]
    for rule in RULES:
        summary = inspect.cleandoc(rule.__doc__ or "").partition("\n")[0].strip()
        severity = policy.rules[rule.code].severity
        anchor = f"{rule.code.lower()}-{rule.name}"
        lines.append(f"| [{rule.code}](#{anchor}) | {rule.name} | {severity} | {summary} |")
    lines.append("")
    lines += _grammar_docs(policy)
    current = ""
    for rule in RULES:
        prefix = rule.code[:3]
        if prefix != current:
            current = prefix
            lines += [f"## {_PREFIXES.get(prefix, prefix)}", ""]
        lines.append(rule_section(rule, policy))
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    sys.stdout.write(generate())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
