"""Phrase matchers the rules (and the bot's pre-send check) share.

- `ForbiddenMatcher`: every forbidden list of the policy (and the word lists they
  name) in ONE Aho-Corasick automaton over normalised text (`compliance.normalize`),
  with per-phrase exceptions for innocent containing words (USB ⊃ sb, 滚动 ⊃ 滚,
  垃圾文件 ⊃ 垃圾) and word boundaries for Latin phrases; each hit gives its list,
  rule code, phrase and the exact span of the original text.
- `CueBook` / `CueMatcher`: policy cue lists (customer complaint, doubt and emotion
  cues, agent acknowledgements, remote-access and resolution phrases) over folded
  text, with negations ("远程解决不了" is no remote login) and question forms
  ("好了吗" is no resolution).
- `AckMatcher`: whether a customer message is only an acknowledgement (好的, 收到,
  an emoji ...), which needs no reply (SLA002).
- `RequiredLineMatcher`: fuzzy match (rapidfuzz, policy cutoff) of an agent message
  against the canonical script lines of `scripts_library`, tolerant of punctuation,
  spaces, emoji codes, 的/了 and small rewordings.
- `GreetingParser`: finds a self-introduction and extracts the engineer's name and
  工号 exactly, around the fixed parts of `scripts_library.GREETING_PARTS`.
"""

from compliance.matchers._common import folder_for
from compliance.matchers.acks import AckMatcher
from compliance.matchers.cues import AgentScan, CueBook, CueHit, CueList, CueMatcher
from compliance.matchers.forbidden import ForbiddenHit, ForbiddenMatcher
from compliance.matchers.lines import GreetingMatch, GreetingParser, RequiredLineMatcher

__all__ = [
    "AckMatcher",
    "AgentScan",
    "CueBook",
    "CueHit",
    "CueList",
    "CueMatcher",
    "ForbiddenHit",
    "ForbiddenMatcher",
    "GreetingMatch",
    "GreetingParser",
    "RequiredLineMatcher",
    "folder_for",
]
