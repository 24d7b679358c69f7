"""The caller, drawn by hypothesis: a strategy of :class:`~.plan.Plan` from the user's vocabulary
and the built-in disfluencies.

Each call first draws a small repertoire (one to three phrases) and says mostly from it, the way a
confused caller repeats "what?": bugs that need the same words twice are found in a few hundred
examples instead of by luck. Every choice shrinks towards the simplest caller (fewer actions, the
first phrase, a plain ``say``, no delay), so a failure shrinks to the shortest call that breaks.
"""

from __future__ import annotations

from hypothesis import strategies as st

from .plan import Action, Hangup, Interrupt, Plan, Press, Say, Silence, Text
from .spec import CallerBehaviour, Vocabulary

DISFLUENCIES = ("what?", "sorry?", "hold on", "um", "yes", "no")
DIGIT_WORDS = dict(
    zip(
        "0123456789",
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
        strict=True,
    )
)


def digit_by_digit(number: str) -> str:
    """``A-1042`` -> ``A one zero four two``: a number read out the way callers do."""
    words = []
    for char in number:
        if char in DIGIT_WORDS:
            words.append(DIGIT_WORDS[char])
        elif char.isalnum():
            words.append(char)
    return " ".join(words)


def phrases_of(vocabulary: Vocabulary) -> list[str]:
    """Every phrase the caller may say: the intents' (in order), the numbers as written and digit
    by digit, then the disfluencies; no duplicates, no blanks."""
    found: list[str] = []
    candidates = [p for phrases in vocabulary.intents.values() for p in phrases]
    for number in vocabulary.numbers:
        candidates += [number, digit_by_digit(number)]
    if vocabulary.disfluencies:
        candidates += DISFLUENCIES
    for phrase in candidates:
        phrase = " ".join(phrase.split())
        if phrase and phrase not in found:
            found.append(phrase)
    return found


# A delay into a reply's speech, in seconds: within its first words, mid-sentence, or later; shrinks
# to 0 (at once). A few fixed values rather than any float: hypothesis draws integer and float
# ranges mostly at their ends, and a barge-in's place matters by the word, not the millisecond.
AFTER_SECONDS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0)
_after = st.sampled_from(AFTER_SECONDS)


def caller_plans(vocabulary: Vocabulary, caller: CallerBehaviour | None = None) -> st.SearchStrategy[Plan]:
    """A strategy of caller plans: say, interrupt, press (also mid-reply), stay silent, text, and
    hang up at any point, per ``caller`` (default: all of it).

    A plan is drawn as moves the way a call goes: the caller may barge into the greeting, then each
    move is something said, keys pressed, a silence or a text, and while the agent answers it the
    caller listens, talks over the reply or presses keys over it. Drawn flat, action by action,
    hypothesis mostly repeats the action before (it copies choices), so "say, then press over
    the reply" came up once in hundreds of calls. Every strategy is built here, once: building
    them inside each draw made hypothesis spend ~20 ms a plan.
    """
    caller = caller or CallerBehaviour()
    phrases = phrases_of(vocabulary)
    # The caller's repertoire: one or two phrases drawn once per call, said again and again.
    repertoire = st.shared(st.lists(st.sampled_from(phrases), min_size=1, max_size=2), key=id(phrases))
    repeated = st.tuples(repertoire, st.integers(0, 1)).map(
        lambda pick: pick[0][min(pick[1], len(pick[0]) - 1)]
    )
    # Half the time a phrase of the user's own (their intents first), else the caller's repertoire
    # (repeats), else a disfluency.
    own = [p for p in phrases if p not in DISFLUENCIES] or phrases
    sources = [st.sampled_from(own), st.sampled_from(own), repeated]
    if vocabulary.disfluencies:
        sources.append(st.sampled_from(DISFLUENCIES))
    phrase = st.one_of(sources)
    keys = st.text(alphabet=caller.keys or "0", min_size=1, max_size=3)
    over: list[st.SearchStrategy[Action | None]] = [st.none()]  # listen to the reply to its end
    if caller.interrupts:
        over.append(st.builds(Interrupt, phrase, _after))
    if caller.keys and caller.keys_mid_reply:
        over.append(st.builds(Press, keys, _after))
    over_reply = st.one_of(over)

    def then(first: st.SearchStrategy[Action]) -> st.SearchStrategy[list[Action]]:
        """``first``, and what the caller does while the agent answers it."""
        return st.tuples(first, over_reply).map(lambda pair: [a for a in pair if a is not None])

    moves: dict[str, st.SearchStrategy[list[Action]]] = {"say": then(st.builds(Say, phrase))}
    if vocabulary.disfluencies:
        # The confused caller: "what?" (or "sorry?" ...) once, twice, three times running.
        moves["confused"] = st.builds(
            lambda word, times: [Say(word)] * times, st.sampled_from(DISFLUENCIES), st.integers(1, 3)
        )
    if caller.keys:
        moves["press"] = then(st.builds(Press, keys, st.none()))
    if caller.silences:
        seconds = st.integers(1, max(1, int(caller.max_silence_s))).map(float)
        moves["silence"] = st.builds(lambda s: [Silence(s)], seconds)
    if caller.texts:
        moves["text"] = st.builds(lambda body: [Text(body)], phrase)
    # Saying is what callers mostly do, and the kind every move shrinks to.
    weights = {"say": 3, "confused": 1, "press": 1, "silence": 1, "text": 1}
    move = st.one_of([moves[name] for name in moves for _ in range(weights[name])])
    # A third of the callers barge into the greeting.
    opening = st.one_of(st.none(), st.none(), st.one_of(over[1:]) if len(over) > 1 else st.none())
    # A quarter of the callers hang up after their last action (at any point: the plans' lengths
    # vary); the rest stay on, and the call ends as a scenario's does (the caller listens, then
    # hangs up).
    hangs_up = st.sampled_from((False, False, False, True)) if caller.hangups else st.just(False)
    limit = caller.max_actions
    # At least one move: with none allowed, calls were shorter on average and "say, then press
    # over the reply" came up half as often (a barge into the greeting then shrinks to two actions,
    # the barge-in and one move, rather than one).

    def plan(parts: tuple[Action | None, list[list[Action]], bool]) -> Plan:
        greeting, drawn, hangup = parts
        actions: list[Action] = [] if greeting is None else [greeting]
        for actions_of_move in drawn:
            actions += actions_of_move
        actions = actions[:limit]
        return Plan(tuple([*actions, Hangup()] if hangup else actions))

    return st.tuples(opening, st.lists(move, min_size=1, max_size=limit), hangs_up).map(plan)
